"""How much of a request body any route reads: a form or JSON body's limit everywhere, an upload's
own limit only where a file is taken, whoever sends it (signed in or not)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.app import create_app, upload_routes
from roster.middleware import MAX_BODY_BYTES, UPLOAD_FRAMING_BYTES
from roster.settings import Settings
from tests.conftest import make_settings
from tests.factories import make_org
from tests.routes import api_routes, scim_routes

CHUNK = 64 * 1024
# Far more than any limit below: a route that reads it all has read too much.
SENT_AT_MOST = 8 * 1024 * 1024
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def small_uploads(tmp_path: Path) -> Settings:
    """Upload limits well under the sample body, and apart from the 1 MiB of a form."""
    return make_settings(tmp_path, max_upload_bytes=2 * 1024 * 1024, max_photo_bytes=1536 * 1024)


@pytest.fixture
def limited_app(connection: Connection, small_uploads: Settings) -> FastAPI:
    return create_app(small_uploads, bind=connection)


def _multipart_chunks() -> Iterator[bytes]:
    """A multipart body with one file part that goes on and on (no Content-Length)."""
    yield (
        b'--BB\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    sent = 0
    while sent < SENT_AT_MOST:
        sent += CHUNK
        yield b"\0" * CHUNK


def _send(app: FastAPI, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """Send the endless multipart body straight through ASGI; the answer's status and how many
    bytes of the body the application pulled before answering."""
    chunks = _multipart_chunks()
    pulled = 0
    status = 0
    raw_headers = [(b"content-type", b"multipart/form-data; boundary=BB"), (b"host", b"testserver")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"--BB--\r\n", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    async def call() -> None:
        await app(scope, receive, send)

    anyio.run(call)
    return status, pulled


def _sample_path(path: str) -> str:
    """A path with every parameter filled in (signed out, no object is ever looked up)."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{"):
            part = "rst_not_a_token" if "token" in part and "id" not in part else str(uuid.uuid4())
        parts.append(part)
    return "/".join(parts)


def _writes(app: FastAPI) -> list[tuple[str, str]]:
    found = {(r.method, r.path) for r in [*api_routes(app), *scim_routes(app)] if r.method in WRITES}
    return sorted(found)


def test_every_upload_route_is_a_route(limited_app: FastAPI, small_uploads: Settings) -> None:
    """The upload table names real routes (a renamed route would silently lose its allowance)."""
    writes = set(_writes(limited_app))
    for upload in upload_routes(small_uploads):
        assert (upload.method, upload.path) in writes, upload


def test_no_route_reads_more_than_its_limit_of_a_multipart_body_from_someone_signed_out(
    limited_app: FastAPI, small_uploads: Settings
) -> None:
    """Every route that takes a body parses multipart (spooling file parts to disk) before it asks
    who is calling: without a cap anyone could fill the disk through the sign-in form."""
    uploads = {(u.method, u.path): u.max_bytes for u in upload_routes(small_uploads)}
    over = []
    for method, path in _writes(limited_app):
        limit = uploads.get((method, path), MAX_BODY_BYTES)
        if (method, path) in uploads:
            limit += UPLOAD_FRAMING_BYTES
        status, pulled = _send(limited_app, method, _sample_path(path))
        if pulled > limit + CHUNK:
            over.append(f"{method} {path}: read {pulled:,} bytes (limit {limit:,}), answered {status}")
    assert not over, "\n".join(over)


def test_a_signed_in_upload_over_its_limit_is_refused_before_the_rest_is_read(
    limited_app: FastAPI, small_uploads: Settings, db: Session
) -> None:
    """Through the drive page, the photo page and the bulk invitation page, which take the whole
    form before the route runs, as through the API."""
    o = make_org(db, slug="acme")
    session = accounts.issue_token(db, o.admin, kind="session").secret
    bearer = accounts.issue_token(db, o.admin, kind="bearer").secret
    for upload in upload_routes(small_uploads):
        path = upload.path.replace("{user_id}", str(o.admin.id))
        if path.startswith("/api/"):
            headers = {"authorization": f"Bearer {bearer}"}
        else:
            headers = {"cookie": f"roster_session={session}", "accept": "text/html"}
        status, pulled = _send(limited_app, upload.method, path, headers)
        assert status == 413, (upload, status)
        assert pulled <= upload.max_bytes + UPLOAD_FRAMING_BYTES + CHUNK, (upload, pulled)


def test_a_body_nested_thousands_deep_is_refused_as_bad_input_on_every_route_that_reads_json(
    limited_app: FastAPI, db: Session
) -> None:
    """Python's JSON parser gives up on deep nesting with a RecursionError, not a ValueError:
    every route that reads JSON, the SCIM server's included, answers it as bad input, not 500;
    the API's as it answers a body that does not parse (422 ``validation_failed``)."""
    from fastapi.testclient import TestClient

    from roster.scim.tokens import create_scim_token
    from tests.routes import json_body_routes

    o = make_org(db, slug="acme")
    bearer = accounts.issue_token(db, o.admin, kind="bearer").secret
    scim = create_scim_token(db, o.org.id, actor=o.admin, name="idp").secret
    nested = b"[" * 100_000 + b"]" * 100_000
    routes = [(r.method, r.path, bearer) for r in json_body_routes(limited_app)]
    routes += [
        (r.method, r.path, scim) for r in scim_routes(limited_app) if r.method in ("POST", "PUT", "PATCH")
    ]
    assert any(path.startswith("/scim/") for _, path, _ in routes)
    failed = []
    with TestClient(limited_app, raise_server_exceptions=False) as client:
        for method, path, token in routes:
            answer = client.request(
                method,
                _sample_path(path),
                content=nested,
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            # 501 is SCIM's Bulk and Me, which read no body.
            if answer.status_code in (500, 502, 503) or "json" not in answer.headers.get("content-type", ""):
                failed.append(f"{method} {path}: {answer.status_code} {answer.text[:80]}")
            elif not path.startswith("/scim/") and (
                answer.status_code != 422 or answer.json().get("code") != "validation_failed"
            ):
                # The API answers it as it answers any body that is not JSON.
                failed.append(f"{method} {path}: {answer.status_code} {answer.text[:80]}")
    assert not failed, "\n".join(failed)


def test_a_json_body_over_the_limit_is_told_of_uploads_only_where_there_are_any(
    limited_app: FastAPI, db: Session
) -> None:
    """The API's 413 points to multipart uploads, which some of its routes take; the SCIM
    server's takes none, so its 413 says the limit alone."""
    from fastapi.testclient import TestClient

    from roster.scim.tokens import create_scim_token

    o = make_org(db, slug="acme")
    bearer = accounts.issue_token(db, o.admin, kind="bearer").secret
    scim = create_scim_token(db, o.org.id, actor=o.admin, name="idp").secret
    big = b'{"body": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with TestClient(limited_app) as client:
        api = client.post("/api/v1/posts", content=big, headers={"authorization": f"Bearer {bearer}"})
        idp = client.post(
            "/scim/v2/Users",
            content=big,
            headers={"authorization": f"Bearer {scim}", "content-type": "application/scim+json"},
        )
    assert api.status_code == 413 and api.json()["code"] == "too_large"
    assert api.json()["detail"].endswith("; upload files as multipart/form-data.")
    assert idp.status_code == 413 and idp.headers["content-type"] == "application/scim+json"
    assert idp.json()["detail"] == f"Request bodies are limited to {MAX_BODY_BYTES:,} bytes."


def test_upload_routes_keep_their_limit_behind_a_proxy_prefix(limited_app: FastAPI, db: Session) -> None:
    """Served under a prefix (the scope's root path), an upload route is still one."""
    from fastapi.testclient import TestClient

    o = make_org(db, slug="acme")
    bearer = accounts.issue_token(db, o.admin, kind="bearer").secret
    data = b"y" * (MAX_BODY_BYTES + 200_000)  # over a form's limit, under the drive's
    with TestClient(limited_app, root_path="/intranet") as proxied:
        stored = proxied.post(
            "/intranet/api/v1/files",
            files={"file": ("big.bin", data, "application/octet-stream")},
            headers={"authorization": f"Bearer {bearer}"},
        )
        assert stored.status_code == 201, stored.text
        refused = proxied.post(
            "/intranet/api/v1/me/tokens",
            files={"file": ("big.bin", data, "application/octet-stream")},
            headers={"authorization": f"Bearer {bearer}"},
        )
        assert refused.status_code == 413, refused.text
