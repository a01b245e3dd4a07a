"""Plain ASGI middleware: headers every answer carries, and one access-log line per request.

Written against the ASGI interface rather than Starlette's ``BaseHTTPMiddleware``: that class runs
the rest of the application in a separate task and streams the answer back through a memory
channel, which cost about a millisecond per request per layer here (most of a SCIM lookup's time).
These only look at the ``http.response.start`` message on its way out.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import anyio
from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("roster.requests")

REQUEST_ID_HEADER = "x-request-id"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


# Set in the scope HeadAsGet hands on: the client asked HEAD (the log says so).
HEAD_REQUEST = "roster.head"
# Extensions a response could use to have the server send a file itself, body and all.
_BODY_SENDING_EXTENSIONS = ("http.response.pathsend", "http.response.zerocopysend")


class HeadAsGet:
    """Answer HEAD wherever GET is answered: the request goes on as the GET it stands for (the
    same route, authentication, scoping and status, GET's work done once), and the answer keeps
    its status and headers, ``Content-Length`` included, but sends no body (RFC 9110 §9.3.2).

    One layer, outermost, instead of a HEAD route beside every GET route: the route table and the
    OpenAPI document stay as they are, and the pages, the API, the SCIM server and the static files
    are all covered. A path without GET still answers 405 (its ``Allow`` names its methods).
    The scope is copied, not changed: the server still knows the request was HEAD.

    A streamed answer (a file's content, the audit export) is stopped once its headers are out:
    the application is told the client has gone, as when a downloader hangs up, so HEAD does not
    read a file or run an export only to throw the bytes away. Its last (empty) body message is
    then sent here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        extensions = {
            name: value
            for name, value in (scope.get("extensions") or {}).items()
            if name not in _BODY_SENDING_EXTENSIONS
        }
        # Spec 2.3: a streamed response listens for the disconnect below (2.4 would only notice
        # one when a send fails, which here none does).
        asgi = {**(scope.get("asgi") or {}), "spec_version": "2.3"}
        as_get = {**scope, "method": "GET", "asgi": asgi, "extensions": extensions, HEAD_REQUEST: True}
        headers_sent = anyio.Event()
        finished = False
        requested = False

        async def receive_until_headers_sent() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return await receive()
            await headers_sent.wait()
            return {"type": "http.disconnect"}

        async def send_headers_only(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                await send(message)
                headers_sent.set()
            elif message["type"] == "http.response.body" and not finished:
                finished = not message.get("more_body", False)
                if finished:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif message["type"] != "http.response.body":
                await send(message)

        await self.app(as_get, receive_until_headers_sent, send_headers_only)
        if headers_sent.is_set() and not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


# Paths whose last segment is a secret (an invitation's or a password reset's link): whoever reads
# the log could use it, so the log keeps the path and leaves the secret out.
SECRET_PATHS = re.compile(r"^(/invite/|/reset-password/)[^/]+")


def loggable_path(path: str) -> str:
    """The path as the access log writes it: a link's secret is ``[FILTERED]``."""
    return SECRET_PATHS.sub(r"\1[FILTERED]", path)


class RequestLog:
    """Give each request an id (the caller's ``X-Request-ID`` or a new one), visible to handlers as
    ``request.state.request_id`` and echoed in the answer; add the headers every answer carries;
    log method, path, status and duration as one JSON line."""

    def __init__(self, app: ASGIApp, *, default_headers: Iterable[tuple[str, str]] = ()) -> None:
        self.app = app
        self.default_headers = list(default_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, REQUEST_ID_HEADER.encode())[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in self.default_headers:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": "HEAD" if scope.get(HEAD_REQUEST) else scope["method"],
                            "path": loggable_path(scope["path"]),
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    )
                )


MAX_BODY_BYTES = 1_048_576  # a JSON or form body, or a multipart one to a route that takes no file
# Multipart framing around an upload: boundaries, part headers, a few small fields. At least the
# allowance of the routes that stream their upload, so their own, more precise refusal comes first.
UPLOAD_FRAMING_BYTES = 64 * 1024


def route_path(scope: Scope) -> str:
    """The path as the routes declare it: without the prefix a proxy serves Roster under."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


@dataclass(frozen=True)
class UploadRoute:
    """A route that takes a file: a multipart body to it may be as large as the file's limit."""

    method: str
    path: str  # as declared on the route, parameters in braces
    max_bytes: int
    what: str = "upload"  # for the refusal: "The {what} is larger than ..."


class BodyLimit:
    """Refuse a request body longer than its limit with 413 ``too_large``, before it is read.

    JSON and form bodies are read whole into memory, so their size is capped here (``limit``), by
    the declared ``Content-Length`` or by counting as the body arrives. A multipart body is capped
    the same way: any route taking form fields also parses multipart, spooling each file part to a
    temporary file before the route (or its sign-in and CSRF checks) runs, so without a cap anyone
    could fill the disk through the sign-in form. Only the ``uploads`` routes take more: their
    file's own limit plus the framing; the refusal is the same 413. It is raised from ``receive``
    as FastAPI's HTTPException, which its body parsing lets through to the exception handlers:
    problem+json for the API, a page for a browser, a SCIM error for an identity provider.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES, uploads: Iterable[UploadRoute] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.uploads = [(upload, compile_path(upload.path)[0]) for upload in uploads]

    def _limit_of(self, scope: Scope) -> tuple[int, str]:
        """The body limit for this request, and the refusal's detail."""
        if _header(scope, b"content-type").lower().startswith("multipart/form-data"):
            declared = route_path(scope)
            for upload, path in self.uploads:
                if scope.get("method") == upload.method and path.match(declared):
                    megabytes = upload.max_bytes / (1024 * 1024)
                    return (
                        upload.max_bytes + UPLOAD_FRAMING_BYTES,
                        f"The {upload.what} is larger than {megabytes:g} MB.",
                    )
            return self.limit, f"This address takes no file: its bodies are limited to {self.limit:,} bytes."
        detail = f"Request bodies are limited to {self.limit:,} bytes"
        # Only where some route takes a file is there a way to send more (not the SCIM server).
        return self.limit, f"{detail}; upload files as multipart/form-data." if self.uploads else f"{detail}."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, detail = self._limit_of(scope)
        declared = _header(scope, b"content-length")
        too_long = declared.isdigit() and int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_long:
                raise HTTPException(413, detail)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)


class ResponseHeaders:
    """Add headers to the answers ``applies(scope, headers)`` picks, keeping any a route set itself
    unless the name is in ``override``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        applies: Callable[[Scope, MutableHeaders], bool],
        headers: Iterable[tuple[str, str]],
        override: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.applies = applies
        self.headers = list(headers)
        self.override = {name.lower() for name in override}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if self.applies(scope, headers):
                    for name, value in self.headers:
                        if name.lower() in self.override:
                            headers[name] = value
                        else:
                            headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
