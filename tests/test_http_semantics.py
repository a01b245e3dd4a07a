"""HTTP as its clients expect it, on every route read from the route table: a 401 says how to
authenticate (RFC 6750), HEAD answers wherever GET does (RFC 9110), and a body sent in a media type
the route does not read is refused with 415 before anything happens.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import Connection, LargeBinary, event, select
from sqlalchemy.orm import Session

import roster.db.models  # noqa: F401  (every table, for the snapshot)
from roster import clock
from roster.accounts import service as accounts
from roster.accounts.deps import SESSION_COOKIE
from roster.accounts.models import User
from roster.db.base import Base
from roster.domain.users import Role
from roster.lifecycle.users import dismiss_user
from roster.middleware import HeadAsGet
from roster.scim.api import NOT_IMPLEMENTED
from roster.scim.tokens import create_scim_token, revoke_scim_token
from roster.stream.models import Post
from tests.factories import PASSWORD, OrgWithAdmin, auth, make_org, make_user
from tests.routes import (
    OBJECT_MAKERS,
    SCIM_OBJECT_MAKERS,
    Route,
    api_routes,
    body_model_routes,
    is_page,
    json_body_routes,
    scim_routes,
)

API = "/api/v1"
CHALLENGE = 'Bearer realm="roster"'
INVALID_TOKEN = 'Bearer realm="roster", error="invalid_token"'
SCIM_CHALLENGE = 'Bearer realm="SCIM"'
SCIM_INVALID_TOKEN = 'Bearer realm="SCIM", error="invalid_token"'
BROWSER = {"Accept": "text/html"}
# Headers that differ between any two answers, or that HEAD may leave out.
VOLATILE = {"x-request-id", "set-cookie", "etag", "content-length", "date"}


def _url(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name in route.params:
        path = path.replace("{" + name + "}", values.get(name, str(uuid.uuid4())))
    return path


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]  # names in lower case
    content: bytes  # every body the application sent, as sent (a file it had the server send, by name)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


# A server that can send a file itself, as uvicorn and hypercorn offer (a response then sends no body).
SERVER_EXTENSIONS = {"http.response.pathsend": {}}


async def _call(app: FastAPI, method: str, url: str, headers: dict[str, str]) -> Answer:
    """One request straight to the ASGI application, the answer as it was sent: the test client
    (and httpx's ASGI transport) drop the body of a HEAD answer themselves, so neither would show
    a body sent by mistake."""
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": dict(SERVER_EXTENSIONS),
    }
    start: dict[str, Any] = {}
    body = bytearray()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
        elif message["type"] == "http.response.pathsend":
            body.extend(f"<the file {message['path']}>".encode())

    await app(scope, receive, send)
    found: dict[str, str] = {}
    for name, value in start["headers"]:
        key = name.decode("latin-1").lower()
        found[key] = f"{found[key]}, {value.decode('latin-1')}" if key in found else value.decode("latin-1")
    return Answer(start["status"], found, bytes(body))


def _send(app: FastAPI, requests: list[tuple[str, str, dict[str, str]]]) -> list[Answer]:
    async def send_all() -> list[Answer]:
        return [await _call(app, method, url, headers) for method, url, headers in requests]

    return anyio.run(send_all)


def _session_cookie(db: Session, user: User) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={accounts.issue_token(db, user, kind='session').secret}"}


def _scim_token(db: Session, o: OrgWithAdmin) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"}


def _api_routes(app: FastAPI) -> list[Route]:
    return [r for r in api_routes(app) if not is_page(r)]


def _snapshot(db: Session) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    db.expire_all()
    found = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.c if not isinstance(c.type, LargeBinary)]
        found[table.name] = sorted(repr(tuple(row)) for row in db.execute(select(*columns)).all())
    return found


# --- 401: WWW-Authenticate ----------------------------------------------------------------------


def test_every_401_of_the_api_says_how_to_authenticate(app: FastAPI, client: TestClient, db: Session) -> None:
    o = make_org(db)
    stale_cookie = _session_cookie(db, o.admin)
    accounts.revoke_all_tokens(db, o.admin)
    routes = [r for r in _api_routes(app) if r.access != "public"]
    assert len(routes) > 50
    for route in routes:
        for headers, challenge in (
            ({}, CHALLENGE),
            (stale_cookie, CHALLENGE),  # a cookie is no bearer token: only the realm (RFC 6750 §3)
            ({"Authorization": "Bearer not-a-token"}, INVALID_TOKEN),
            ({"Authorization": "Bearer " + "x" * 4000}, INVALID_TOKEN),
        ):
            body = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(route.method, _url(route, {}), headers=headers, **body)  # type: ignore[arg-type]
            where = f"{route.method} {route.path} {sorted(headers)}"
            assert answer.status_code == 401, f"{where}: {answer.status_code}"
            assert answer.headers.get("www-authenticate") == challenge, f"{where}: {answer.headers}"
    page = client.get("/people", headers=BROWSER, follow_redirects=False)  # pages: sign in, as before
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_token_that_expired_was_revoked_or_whose_person_left_is_an_invalid_token(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db)
    expiring = accounts.issue_token(db, o.admin, kind="bearer", lifetime=timedelta(minutes=5)).secret
    revoked = accounts.issue_token(db, o.admin, kind="pat", name="old")
    accounts.revoke_token(db, revoked.token)
    leaver = make_user(db, o.org, role=Role.ADMIN)
    leavers = auth(db, leaver)
    dismiss_user(db, leaver, actor=o.admin)
    clock.advance(timedelta(minutes=10))
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    routes = [r for r in _api_routes(app) if r.access != "public"]
    for headers in (
        {"Authorization": f"Bearer {expiring}"},
        {"Authorization": f"Bearer {revoked.secret}"},
        leavers,
    ):
        for route in routes:
            body = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(route.method, _url(route, values), headers=headers, **body)  # type: ignore[arg-type]
            assert answer.status_code == 401, f"{route.method} {route.path}: {answer.status_code}"
            assert answer.headers["www-authenticate"] == INVALID_TOKEN, f"{route.method} {route.path}"
            assert answer.json()["code"] == "unauthorized"


def test_wrong_credentials_at_sign_in_carry_the_challenge_without_an_error(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):  # a token beside a sign-in is not at fault
        answer = client.post(
            f"{API}/auth/login",
            json={"organization": o.org.slug, "email": o.admin.email, "password": PASSWORD + "!"},
            headers=headers,
        )
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_credentials"
        assert answer.headers["www-authenticate"] == CHALLENGE


def test_every_401_of_scim_says_how_to_authenticate(app: FastAPI, client: TestClient, db: Session) -> None:
    o = make_org(db)
    issued = create_scim_token(db, o.org.id, actor=o.admin, name="idp")
    revoked = {"Authorization": f"Bearer {issued.secret}"}
    revoke_scim_token(db, issued.token, actor=o.admin)
    routes = scim_routes(app)
    assert len(routes) > 10
    for route in routes:
        for headers, challenge in (
            ({}, SCIM_CHALLENGE),
            ({"Authorization": "Basic YTpi"}, SCIM_CHALLENGE),  # not a bearer token: only the realm
            ({"Authorization": "Bearer not-a-token"}, SCIM_INVALID_TOKEN),
            (revoked, SCIM_INVALID_TOKEN),
        ):
            body = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(route.method, _url(route, {}), headers=headers, **body)  # type: ignore[arg-type]
            where = f"{route.method} {route.path} {headers}"
            assert answer.status_code == 401, f"{where}: {answer.status_code}"
            assert answer.headers.get("www-authenticate") == challenge, f"{where}: {answer.headers}"
            if route.method != "HEAD":
                assert answer.json()["status"] == "401"


# --- HEAD ---------------------------------------------------------------------------------------


def _get_routes(app: FastAPI) -> list[Route]:
    routes = [r for r in api_routes(app) if r.method == "GET"]
    routes += [r for r in scim_routes(app) if r.method == "GET"]
    return routes


def _credentials(
    route: Route, api: dict[str, str], page: dict[str, str], scim: dict[str, str]
) -> dict[str, str]:
    if route.access == "scim":
        return scim
    return {**BROWSER, **page} if is_page(route) else api


def _comparable(answer: Answer) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name not in VOLATILE}


def _assert_head_answers_as_get(route: Route, get: Answer, head: Answer) -> None:
    where = f"{route.path} ({get.status_code})"
    assert head.status_code == get.status_code, f"{where}: HEAD answered {head.status_code}"
    assert head.content == b"", f"{where}: HEAD sent a body"
    assert _comparable(head) == _comparable(get), where
    assert ("set-cookie" in head.headers) == ("set-cookie" in get.headers), where
    if "content-length" in head.headers:
        assert head.headers["content-length"] == get.headers["content-length"], where


def test_head_answers_as_get_on_every_get_route_without_a_body(app: FastAPI, db: Session) -> None:
    o = make_org(db)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    scim_values = {name: maker(db, o) for name, maker in SCIM_OBJECT_MAKERS.items()}
    api, page, scim = auth(db, o.admin), _session_cookie(db, o.admin), _scim_token(db, o)
    routes = _get_routes(app)
    assert len(routes) > 60
    succeeded = 0
    for route, get, head in _get_and_head(app, routes, values, scim_values, (api, page, scim)):
        _assert_head_answers_as_get(route, get, head)
        succeeded += get.status_code == 200 and len(get.content) > 0
    assert succeeded > 50

    # Static files, which the server could send itself (the file is not sent for HEAD either).
    get, head = _send(app, [("GET", "/static/roster.css", {}), ("HEAD", "/static/roster.css", {})])
    assert get.status_code == 200 and get.content.startswith(b"<the file ")
    _assert_head_answers_as_get(Route("GET", "/static/roster.css", "public", False), get, head)

    # Where there is no GET, HEAD is refused as before, and does nothing.
    refused, missing, signed_out = _send(
        app,
        [
            ("HEAD", f"{API}/auth/logout", api),
            ("HEAD", f"{API}/no-such-thing", api),
            ("POST", f"{API}/auth/logout", api),
        ],
    )
    assert refused.status_code == 405 and refused.headers["allow"] == "POST" and refused.content == b""
    assert missing.status_code == 404
    assert signed_out.status_code == 204  # the token still worked: HEAD did not sign out


def _get_and_head(
    app: FastAPI,
    routes: list[Route],
    values: dict[str, Any],
    scim_values: dict[str, Any],
    credentials: tuple[Any, Any, Any],
) -> list[tuple[Route, Any, Any]]:
    """Each route with its GET answer and its HEAD answer, sent with the route's own credentials."""
    requests = []
    for route in routes:
        url = _url(route, scim_values if route.access == "scim" else values)
        headers = _credentials(route, *credentials)
        requests += [("GET", url, headers), ("HEAD", url, headers)]
    answers = _send(app, requests)
    return list(zip(routes, answers[::2], answers[1::2], strict=True))


def test_head_keeps_the_authentication_and_scoping_of_get(app: FastAPI, db: Session) -> None:
    mine, theirs = make_org(db), make_org(db)
    values = {name: maker(db, mine) for name, maker in OBJECT_MAKERS.items()}
    scim_values = {name: maker(db, mine) for name, maker in SCIM_OBJECT_MAKERS.items()}
    routes = _get_routes(app)
    callers = [
        ({}, {}, {}),  # nobody
        (auth(db, theirs.admin), _session_cookie(db, theirs.admin), _scim_token(db, theirs)),
    ]
    for api, page, scim in callers:
        for route, get, head in _get_and_head(app, routes, values, scim_values, (api, page, scim)):
            _assert_head_answers_as_get(route, get, head)
            if not api and route.access != "public":
                assert head.status_code in (401, 303), f"{route.path}: {head.status_code}"
                if head.status_code == 401 and route.access != "scim":
                    assert head.headers["www-authenticate"] == CHALLENGE, route.path
            elif api and route.params and route.access != "public":
                assert head.status_code == 404, f"{route.path}: {head.status_code}"
                assert head.content == b"" and str(mine.org.id) not in str(head.headers)


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


# The GET routes whose body is streamed, produced after the headers are sent.
STREAMED = {
    f"{API}/files/{{file_id}}/content",
    f"{API}/audit/export.csv",
    f"{API}/me/export",
    f"{API}/users/{{user_id}}/export",
}


def test_head_does_the_work_of_one_get(app: FastAPI, db: Session, statements: list[str]) -> None:
    """GET's work once; for a streamed answer, only the work before its headers (a streamed
    body is produced after them, and HEAD stops it there)."""
    o = make_org(db)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    headers = auth(db, o.admin)
    db.flush()
    _send(app, [("GET", f"{API}/me", headers)])  # records the token's use, once a minute
    streamed = 0
    for route in [r for r in api_routes(app) if r.method == "GET" and not is_page(r)]:
        url = _url(route, values)
        counts = {}
        for method in ("GET", "HEAD"):
            statements.clear()
            answer = _send(app, [(method, url, headers)])[0]
            counts[method] = (answer.status_code, [s.split()[0] for s in statements])
        (get_status, get_work), (head_status, head_work) = counts["GET"], counts["HEAD"]
        assert head_status == get_status, f"{route.path}: {counts}"
        if route.path in STREAMED:
            streamed += get_status == 200 and head_work != get_work
            assert get_work[: len(head_work)] == head_work, f"{route.path}: {counts}"
        else:
            assert head_work == get_work, f"{route.path}: {counts}"
    # The audit export and the two personal data downloads (a file's content needs no statement
    # after its headers).
    assert streamed == 3
    # The export's query runs after its headers: HEAD does not run it.
    statements.clear()
    _send(app, [("HEAD", f"{API}/audit/export.csv", headers)])
    assert not [s for s in statements if "audit_events" in s]


def test_head_stops_a_streamed_answer_after_its_headers() -> None:
    """An endless stream: GET would never end; HEAD answers with the headers and is done."""
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"x" * 1024
            await anyio.sleep(0)

    inner = FastAPI()

    @inner.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(endless(), media_type="text/plain", headers={"X-Kind": "endless"})

    async def head() -> Answer:
        with anyio.fail_after(5):
            return await _call(HeadAsGet(inner), "HEAD", "/stream", {})  # type: ignore[arg-type]

    answer = anyio.run(head)
    assert answer.status_code == 200 and answer.headers["x-kind"] == "endless"
    assert answer.content == b""
    assert produced <= 2


def test_head_is_logged_as_head_and_not_documented_as_an_operation(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="roster.requests"):
        assert client.head("/healthz").status_code == 200
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "roster.requests"]
    assert [(line["method"], line["path"], line["status"]) for line in logged] == [("HEAD", "/healthz", 200)]
    assert not [path for path, item in app.openapi()["paths"].items() if "head" in item]


# --- 415: a body that is not JSON ---------------------------------------------------------------


def test_every_route_that_reads_json_is_known_and_documents_415(app: FastAPI) -> None:
    routes = json_body_routes(app)
    documented = {(r.method, r.path) for r in routes}
    assert body_model_routes(app) - {(r.method, r.path) for r in api_routes(app) if is_page(r)} <= documented
    assert ("POST", f"{API}/invitations/bulk") in documented  # reads its body itself
    assert len(routes) > 25
    paths = app.openapi()["paths"]
    for route in routes:
        refusal = paths[route.path][route.method.lower()]["responses"]["415"]
        assert refusal["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    uploads = paths[f"{API}/users/{{user_id}}/photo"]["put"]
    assert "415" not in uploads["responses"]  # a multipart upload reads no JSON


def test_every_json_route_refuses_a_body_of_another_media_type_and_changes_nothing(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    headers = auth(db, o.admin)
    assert client.get(f"{API}/me", headers=headers).status_code == 200  # the token's use, recorded now
    before = _snapshot(db)
    for route in json_body_routes(app):
        for sent in ("text/plain", "application/x-www-form-urlencoded", "application/xml; charset=utf-8"):
            answer = client.request(
                route.method,
                _url(route, values),
                content=b'{"name": "x", "body": "x", "title": "x"}',
                headers={**headers, "Content-Type": sent},
            )
            where = f"{route.method} {route.path} as {sent}"
            assert answer.status_code == 415, f"{where}: {answer.status_code} {answer.text}"
            assert answer.headers["content-type"] == "application/problem+json", where
            problem = answer.json()
            assert problem["code"] == "unsupported_media_type" and problem["status"] == 415, where
            assert "application/json" in problem["detail"], where
            assert sent.partition(";")[0] in problem["detail"], where
            if route.method == "PATCH":
                assert answer.headers["accept-patch"] == "application/json", where
    assert _snapshot(db) == before


def test_json_is_read_under_any_json_media_type_or_none(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    body = b'{"body": "Hello"}'
    for sent in ("application/json", "application/json; charset=utf-8", "application/vnd.roster+json"):
        created = client.post(f"{API}/posts", content=body, headers={**headers, "Content-Type": sent})
        assert created.status_code == 201, f"{sent}: {created.text}"
    # Without a Content-Type the body is JSON too, as GitHub's API reads it.
    untyped = client.post(f"{API}/posts", content=body, headers=headers)
    assert "content-type" not in untyped.request.headers and untyped.status_code == 201, untyped.text
    refused = client.post(f"{API}/posts", content=body, headers={**headers, "Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert len(db.scalars(select(Post.id).where(Post.org_id == o.org.id)).all()) == 4  # not the refused one


def test_a_json_body_that_cannot_be_read_is_invalid_input_not_a_bad_request(
    client: TestClient, db: Session
) -> None:
    """Bytes that are not UTF-8 (JSON's encoding, RFC 8259 §8.1) and arrays nested too deep to
    parse are 422 ``validation_failed`` as JSON that does not parse is, not FastAPI's 400."""
    o = make_org(db)
    headers = auth(db, o.admin)
    for body, why in [
        (b'{"body": "caf\xe9"}', "it is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "it nests too deeply"),
    ]:
        answer = client.post(
            f"{API}/posts", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["code"], problem["field"]) == ("validation_failed", None)
        assert problem["detail"] == f"The body is not valid JSON ({why})."
        assert problem["errors"] == [{"field": None, "message": problem["detail"]}]
    assert db.scalars(select(Post.id).where(Post.org_id == o.org.id)).all() == []


def test_a_caller_not_signed_in_or_not_allowed_hears_that_before_415(client: TestClient, db: Session) -> None:
    o = make_org(db)
    text = {"Content-Type": "text/plain"}
    nobody = client.post(f"{API}/posts", content=b'{"body": "x"}', headers=text)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == CHALLENGE
    employee = auth(db, make_user(db, o.org))
    refused = client.put(
        f"{API}/organization/plan", content=b'{"plan": "plus"}', headers={**employee, **text}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


def test_uploads_and_forms_are_read_as_before(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    text = {**headers, "Content-Type": "text/plain"}
    photo = client.put(f"{API}/users/{o.admin.id}/photo", content=b"not an image", headers=text)
    assert photo.status_code == 422 and photo.json()["code"] == "validation_failed"
    upload = client.post(f"{API}/files", content=b"notes", headers=text)
    assert upload.status_code == 422 and upload.json()["code"] == "validation_failed"
    stored = client.post(
        f"{API}/files", files={"file": ("notes.txt", b"notes", "text/plain")}, headers=headers
    )
    assert stored.status_code == 201, stored.text
    csv = b"email,first_name\nnew.person@example.test,New\n"
    imported = client.post(
        f"{API}/invitations/bulk", files={"file": ("people.csv", csv, "text/csv")}, headers=headers
    )
    assert imported.status_code == 200 and len(imported.json()["created"]) == 1, imported.text
    as_text = client.post(f"{API}/invitations/bulk", content=csv, headers=text)
    assert as_text.status_code == 415 and "multipart/form-data" in as_text.json()["detail"]


def test_every_scim_route_with_a_body_refuses_another_media_type_and_changes_nothing(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    values = {name: maker(db, o) for name, maker in SCIM_OBJECT_MAKERS.items()}
    headers = _scim_token(db, o)
    assert client.get("/scim/v2/Users", headers=headers).status_code == 200  # the token's use, recorded now
    routes = [
        r
        for r in scim_routes(app)
        if r.method in ("POST", "PUT", "PATCH") and r.path.removeprefix("/scim/v2") not in NOT_IMPLEMENTED
    ]
    assert len(routes) >= 7
    before = _snapshot(db)
    for route in routes:
        answer = client.request(
            route.method,
            _url(route, values),
            content=b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@y.test"}',
            headers={**headers, "Content-Type": "text/plain"},
        )
        where = f"{route.method} {route.path}"
        assert answer.status_code == 415, f"{where}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith("application/scim+json"), where
        error = answer.json()
        assert error["status"] == "415" and "application/scim+json" in error["detail"], where
        if route.method == "PATCH":
            assert answer.headers["accept-patch"] == "application/scim+json", where
    assert _snapshot(db) == before
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "plain@example.test"}
    created = client.post("/scim/v2/Users", json=user, headers=headers)  # application/json is read too
    assert created.status_code == 201, created.text
    nobody = client.post("/scim/v2/Users", content=b"{}", headers={"Content-Type": "text/plain"})
    assert nobody.status_code == 401


# --- 405: Allow names every method of the path --------------------------------------------------


def test_a_405_allows_every_method_the_path_answers(app: FastAPI, client: TestClient) -> None:
    """Where one path has several routes (``/users/{id}``: GET and PATCH), ``Allow`` names them
    all, not only the first route's; every path of the route table, the API's and SCIM's."""
    methods_by_path: dict[str, set[str]] = {}
    for route in [*api_routes(app), *scim_routes(app)]:
        methods_by_path.setdefault(route.path, set()).add(route.method)
    assert len(methods_by_path) > 60

    def fits(template: str, url: str) -> bool:
        """Whether the route template answers this URL (a ``{param}`` takes any one segment)."""
        parts, given = template.split("/"), url.split("/")
        return len(parts) == len(given) and all(
            p == g or (p.startswith("{") and p.endswith("}")) for p, g in zip(parts, given, strict=True)
        )

    several = 0
    for path in methods_by_path:
        url = _url(Route("GET", path, "public", False), {})
        answered = set().union(*(m for template, m in methods_by_path.items() if fits(template, url)))
        expected = answered | ({"HEAD"} if "GET" in answered else set())
        several += len(answered - {"HEAD"}) > 1
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - answered):
            answer = client.request(method, url)
            where = f"{method} {path}"
            assert answer.status_code == 405, f"{where}: {answer.status_code}"
            assert set(answer.headers["allow"].split(", ")) == expected, f"{where}: {answer.headers['allow']}"
            assert method in answer.json()["detail"], where
    assert several > 10


# --- 204: no content, so no media type ----------------------------------------------------------


def test_an_answer_without_content_names_no_media_type(app: FastAPI, client: TestClient, db: Session) -> None:
    """A 204 has no body, so it names no ``Content-Type`` (RFC 9110 §8.3: the header describes
    content): every DELETE of the API an admin makes on their own objects, and the POSTs that
    answer 204."""
    o = make_org(db)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    headers = auth(db, o.admin)
    no_content = []
    for route in api_routes(app):
        if route.method != "DELETE" or is_page(route):
            continue
        answer = client.delete(_url(route, values), headers=headers)
        if answer.status_code == 204:
            no_content.append(route.path)
            assert "content-type" not in answer.headers, f"DELETE {route.path}: {answer.headers}"
    assert len(no_content) >= 10, no_content

    changed = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": "Plum-kettle-Orbit-93"},
        headers=headers,
    )
    logged_out = client.post(f"{API}/auth/logout", headers=headers)
    for answer in (changed, logged_out):
        assert answer.status_code == 204, answer.text
        assert "content-type" not in answer.headers, answer.headers


# --- 201: Location names what was created -------------------------------------------------------


def test_a_201_names_where_the_created_resource_is_read(client: TestClient, db: Session) -> None:
    """Every create whose resource has a URL of its own answers ``Location`` with it (RFC 9110
    §10.2.2), absolute, and reading it gives what the 201 gave."""
    o = make_org(db, plan="enterprise")
    colleague = make_user(db, o.org)
    headers = auth(db, o.admin)
    me = str(o.admin.id)
    invited = client.post(f"{API}/invitations", json={"email": "newcomer@x.test"}, headers=headers).json()
    creates = {
        "/posts": client.post(f"{API}/posts", json={"body": "Hello"}, headers=headers),
        "/tasks": client.post(f"{API}/tasks", json={"title": "Do it", "responsible_id": me}, headers=headers),
        "/crm/leads": client.post(
            f"{API}/crm/leads", json={"title": "Acme", "responsible_id": me}, headers=headers
        ),
        "/departments": client.post(f"{API}/departments", json={"name": "Sales"}, headers=headers),
        "/chats": client.post(f"{API}/chats", json={"member_ids": [str(colleague.id)]}, headers=headers),
        "/files": client.post(
            f"{API}/files", files={"file": ("a.txt", b"hello", "text/plain")}, headers=headers
        ),
    }
    accepted = client.post(
        f"{API}/invitations/accept",
        json={"token": invited["accept_url"].rsplit("/", 1)[1], "password": "Plum-kettle-Orbit-93"},
    )
    for path, answer in creates.items():
        assert answer.status_code == 201, f"{path}: {answer.text}"
        assert answer.headers["location"] == f"http://testserver{API}{path}/{answer.json()['id']}", path
        read = client.get(answer.headers["location"], headers=headers)
        assert read.status_code == 200 and read.json()["id"] == answer.json()["id"], path
    assert accepted.status_code == 201, accepted.text
    user_id = accepted.json()["user"]["id"]
    assert accepted.headers["location"] == f"http://testserver{API}/users/{user_id}"
    assert client.get(accepted.headers["location"], headers=headers).json()["id"] == user_id


# --- Cache-Control: no cache keeps the API's answers --------------------------------------------


def test_no_cache_keeps_an_api_answer_unless_its_route_says_how(client: TestClient, db: Session) -> None:
    """The API's answers hold people's data and secrets (a sign-in token, an invitation link):
    ``no-store``, refusals too. Photos and file content keep their own caching; pages keep
    theirs; health checks and the static files are not the API's."""
    o = make_org(db)
    headers = auth(db, o.admin)
    signed_in = client.post(
        f"{API}/auth/login", json={"organization": o.org.slug, "email": o.admin.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    invited = client.post(f"{API}/invitations", json={"email": "new@x.test"}, headers=headers)
    for answer in (
        signed_in,
        invited,
        client.get(f"{API}/me", headers=headers),
        client.get(f"{API}/users", headers=headers),
        client.get(f"{API}/me"),  # 401
        client.get(f"{API}/users/{uuid.uuid4()}", headers=headers),  # 404
    ):
        assert answer.headers["cache-control"] == "no-store", (answer.request.url, answer.headers)
    photo = client.get(f"{API}/users/{o.admin.id}/photo", headers=headers)
    assert photo.status_code == 200 and photo.headers["cache-control"] == "private, no-cache"
    stored = client.post(f"{API}/files", files={"file": ("a.txt", b"hello", "text/plain")}, headers=headers)
    content = client.get(f"{API}/files/{stored.json()['id']}/content", headers=headers)
    assert content.headers["cache-control"] != "no-store" and content.headers["etag"]
    assert "cache-control" not in client.get("/healthz").headers
    assert "cache-control" not in client.get("/static/roster.css").headers
