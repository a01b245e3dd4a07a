"""SCIM over HTTP: the admin API for tokens (under /api/v1) and the SCIM 2.0 server (/scim/v2).

The SCIM server is its own small application mounted beside the API, so its authentication (a SCIM
token, not a user's) and its errors (SCIM error objects, not problem+json) apply to it alone.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from scim2_models import (
    InvalidSyntaxException,
    NotFoundException,
    SCIMException,
    UnauthorizedException,
)
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Route

from roster.accounts.deps import DB, SAFE_METHODS, AdminUser, in_request_transaction
from roster.accounts.service import use_is_due
from roster.concurrency import run_sync, run_writing, writer_thread_is_busy
from roster.db.engine import PointReads, WriterBusy, WritesNow
from roster.domain import errors
from roster.problems import allowed_methods, reads_as_json, unsupported_media_type
from roster.scim import filters, schemas, service, tokens
from roster.scim.schemas import CORE_GROUP, CORE_USER, ERROR, SCIM_MEDIA_TYPE

log = logging.getLogger("roster.scim")

SCIM_PREFIX = "/scim/v2"

# --- admin API: tokens ---------------------------------------------------------------------------

router = APIRouter(tags=["scim"])


class ScimTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=100)


class ScimTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    created_by: uuid.UUID | None


class ScimTokenCreated(ScimTokenOut):
    token: str


class ScimTokenList(BaseModel):
    items: list[ScimTokenOut]
    total: int


@router.post("/scim/tokens", response_model=ScimTokenCreated, status_code=status.HTTP_201_CREATED)
def create_scim_token(principal: AdminUser, session: DB, body: ScimTokenIn | None = None) -> ScimTokenCreated:
    """A token for an identity provider; the secret is shown only in this answer."""
    issued = tokens.create_scim_token(
        session, principal.org_id, actor=principal.user, name=body.name if body else ""
    )
    out = ScimTokenOut.model_validate(issued.token, from_attributes=True)
    return ScimTokenCreated(**out.model_dump(), token=issued.secret)


@router.get("/scim/tokens", response_model=ScimTokenList)
def list_scim_tokens(
    principal: AdminUser,
    session: DB,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ScimTokenList:
    """The organization's live SCIM tokens (never their secrets), with when each was last used."""
    found = tokens.list_scim_tokens(session, principal.org_id)
    shown = found[(page - 1) * per_page : page * per_page]
    items = [ScimTokenOut.model_validate(t, from_attributes=True) for t in shown]
    return ScimTokenList(items=items, total=len(found))


@router.delete("/scim/tokens/{scim_token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_scim_token(scim_token_id: uuid.UUID, principal: AdminUser, session: DB) -> Response:
    """Revoke a token: the identity provider's next request answers 401."""
    token = tokens.get_scim_token(session, principal.org_id, scim_token_id)
    tokens.revoke_scim_token(session, token, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the SCIM server -----------------------------------------------------------------------------


def scim_json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=headers, media_type=SCIM_MEDIA_TYPE)


def scim_error(
    status_code: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status_code)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return scim_json(body, status_code, headers)


def scim_base_url(request: Request) -> str:
    """The absolute URL of /scim/v2 as the client reached it: its scheme and host, and the path the
    SCIM server is mounted at (the scope's root path, which includes any proxy's prefix). Read from
    the scope, as ``request.url`` would be, without parsing the whole URL on every request."""
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", None)
        host = server_host if port in (None, 80, 443) else f"{server_host}:{port}"
    return f"{scope['scheme']}://{host}{scope.get('root_path', '')}"


class _WouldWrite(Exception):
    """A point read found it has to write (its token's use is due to be recorded)."""


def _token(request: Request, reads: Session | Connection) -> tokens.LiveScimToken:
    """The live SCIM token the request presents; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise UnauthorizedException(detail="Send a SCIM token as Authorization: Bearer <token>.")
    token = tokens.resolve_scim_token(reads, value.strip())
    if token is None:
        raise UnauthorizedException(detail="The SCIM token is not valid (unknown or revoked).")
    return token


def _authenticate(
    request: Request, session: Session, known: tokens.LiveScimToken | None
) -> service.ScimContext:
    """The calling identity provider (a live SCIM token names its organization; ``known`` when it
    was read already), its use recorded once a minute."""
    token = known or _token(request, session)
    tokens.touch_scim_token(session, token)
    return service.ScimContext(
        session=session, org_id=token.org_id, token=token, base_url=scim_base_url(request)
    )


def _in_transaction(
    request: Request,
    work: Callable[[service.ScimContext], Response],
    known: tokens.LiveScimToken | None,
    writes: bool,
) -> Response:
    """Authenticate and do ``work`` in one transaction (a writing or a reading session of the
    API's): committed when it returns, rolled back on any error."""
    return in_request_transaction(
        request, lambda session: work(_authenticate(request, session, known)), writes=writes
    )


def _token_before_writing(request: Request) -> tokens.LiveScimToken | None:
    """A writing request's token, read on the point-read connection (SQLite), or None where there
    is none or it could not be read without waiting (the transaction then reads it).

    A writing transaction holds SQLite's write lock from its first statement, and every other
    writer of the database waits for it: reading the token first keeps that read out of the lock.
    A token revoked in between is as if revoked a moment later, once the request was admitted.
    """
    point_reads: PointReads | None = request.app.state.point_reads
    if point_reads is None:
        return None
    try:
        with point_reads.connection() as connection:
            return _token(request, connection)
    except (OperationalError, PoolTimeout):
        return None


async def scim_call(
    request: Request, work: Callable[[service.ScimContext], Response], *, writes: bool | None = None
) -> Response:
    """Run a SCIM request's database work on one worker thread, in a writing transaction if
    ``writes`` (by default: unless the method is safe).

    Every endpoint goes through here rather than through sync dependencies (session, then token,
    then the route), each of which FastAPI would run on the thread pool separately: one hand-over
    instead of four is most of what a lookup costs on loopback. On SQLite a writing request goes
    to the process's writer thread (``run_writing``): an identity provider's bulk provisioning is
    most of what writes to Roster. Where no other writer is at work, a create, replacement or
    patch is done on the event loop itself instead (``writes_now``): it never waits there, and
    goes to the writer thread when it would have to. A deletion, which can take long (a person's
    content is reassigned), always goes to the thread.
    """
    if writes is None:
        writes = request.method not in SAFE_METHODS
    if not writes:
        return await run_sync(_in_transaction, request, work, None, False)
    known = _token_before_writing(request)
    if request.app.state.serial_writes:
        now: WritesNow | None = request.app.state.writes_now
        if now is not None and request.method != "DELETE" and not writer_thread_is_busy():
            try:
                with now.session() as session:
                    return work(_authenticate(request, session, known))
            except (WriterBusy, PoolTimeout):
                pass  # nothing was written: the writer thread does it, waiting its turn
        return await run_writing(_in_transaction, request, work, known, True)
    return await run_sync(_in_transaction, request, work, known, True)


async def scim_point_read(request: Request, work: Callable[[service.ReadContext], Response]) -> Response:
    """``scim_call`` for a small read (one person by key, the server's own description): on SQLite
    it is answered on the event loop, without the hand-over to a worker thread and back.

    It reads through a point-read connection (``roster.db.engine.point_reads``), which cannot
    write and does not wait for locks. Whatever would write (a token whose use is due to be
    recorded, once a minute), wait for a lock, or wait for a connection raises at once, and the
    request is then done as any other, on a worker thread. Its answers are the same either way.
    """
    point_reads: PointReads | None = request.app.state.point_reads
    if point_reads is not None:
        try:
            with point_reads.connection() as connection:
                token = _token(request, connection)
                if use_is_due(token.last_used_at):
                    raise _WouldWrite
                return work(
                    service.PointReadContext(
                        reads=connection, org_id=token.org_id, token=token, base_url=scim_base_url(request)
                    )
                )
        except (_WouldWrite, OperationalError, PoolTimeout):
            pass
    return await scim_call(request, work)


SCIM_BODY = f"{SCIM_MEDIA_TYPE} (or application/json)"


def parse_body(raw: bytes, content_type: str | None = None) -> dict[str, Any]:
    """A request's JSON object; 415 when it was sent as another media type than JSON (RFC 7644
    §3.1: ``application/scim+json``, and ``application/json`` too; as the API, none at all is read
    as JSON), invalidSyntax when it is not a JSON object."""
    if raw and not reads_as_json(content_type):
        raise unsupported_media_type(content_type, SCIM_BODY)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The body is not valid JSON.") from None
    except RecursionError:  # arrays or objects nested thousands deep: no SCIM body is
        raise InvalidSyntaxException(detail="The body nests too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="The body must be a JSON object.")
    return data


async def scim_call_with_body(
    request: Request,
    work: Callable[[service.ScimContext, dict[str, Any]], Response],
    *,
    writes: bool | None = None,
) -> Response:
    """``scim_call`` for a request with a JSON body, which is parsed only once the caller is known
    (an unauthenticated request is answered 401 whatever it sent)."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    return await scim_call(request, lambda ctx: work(ctx, parse_body(raw, content_type)), writes=writes)


_STATUS_OF_ROSTER_ERROR = {401: 401, 403: 403, 404: 404, 409: 409, 413: 413, 415: 415, 429: 429, 503: 503}


SCIM_CHALLENGE = 'Bearer realm="SCIM"'


def _challenge(request: Request) -> dict[str, str]:
    """RFC 6750's challenge of a 401: ``error="invalid_token"`` when a bearer token was sent and
    refused, the realm alone when none was sent."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return {"WWW-Authenticate": SCIM_CHALLENGE + ', error="invalid_token"'}
    return {"WWW-Authenticate": SCIM_CHALLENGE}


async def _scim_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SCIMException)
    headers = _challenge(request) if exc.status == 401 else None
    return scim_error(exc.status, exc.detail, exc.scim_type or None, headers)


async def _roster_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.RosterError)
    status_code = _STATUS_OF_ROSTER_ERROR.get(exc.status, 400)
    scim_type = None
    if isinstance(exc, errors.EmailInUse | errors.EmailBelongsToDismissedUser):
        scim_type = "uniqueness"
    elif status_code == 400:
        scim_type = "invalidValue"
    headers = _challenge(request) if status_code == 401 else None
    if status_code == 415 and request.method == "PATCH":
        headers = {"Accept-Patch": SCIM_MEDIA_TYPE}  # RFC 5789: what a PATCH may send instead
    return scim_error(status_code, exc.detail, scim_type, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Error"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404:
        detail = f"No SCIM endpoint at {request.url.path}."
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not answered at {request.url.path}; use {', '.join(allowed)}."
    return scim_error(exc.status_code, detail, None, headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IntegrityError)
    log.info("scim integrity conflict: %s", exc.orig)
    return scim_error(409, "A concurrent change took that value; retry.", "uniqueness")


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OperationalError)
    log.warning("scim database error: %s", exc.orig)
    return scim_error(503, "The database is not answering; retry shortly.", None, {"Retry-After": "2"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled SCIM error")
    return scim_error(500, "Something went wrong on our side.")


# Every failure under /scim/v2 answers a SCIM error object, never problem+json or a 5xx page.
ERROR_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    SCIMException: _scim_exception,
    errors.RosterError: _roster_error,
    StarletteHTTPException: _http_error,
    IntegrityError: _integrity_error,
    OperationalError: _unavailable,
    Exception: _unexpected,
}


def _query_params(request: Request) -> dict[str, Any]:
    return dict(request.query_params)


def _single(request: Request, resource: dict[str, Any], *, core_urn: str) -> Response:
    if service.not_modified(request.headers.get("if-none-match"), resource):
        return Response(status_code=304, headers={"ETag": resource["meta"]["version"]})
    query = service.read_list_query(_query_params(request))
    shown = service.project(resource, query.attributes, query.excluded_attributes, core_urn=core_urn)
    return scim_json(shown, 200, {"ETag": resource["meta"]["version"]})


def _written(request: Request, resource: dict[str, Any], status_code: int, *, core_urn: str) -> JSONResponse:
    query = service.read_list_query(_query_params(request))
    shown = service.project(resource, query.attributes, query.excluded_attributes, core_urn=core_urn)
    headers = {"ETag": resource["meta"]["version"]}
    if status_code == 201:
        headers["Location"] = resource["meta"]["location"]
    return scim_json(shown, status_code, headers)


@dataclass(frozen=True)
class ResourceRoutes:
    """What the routes of one SCIM resource type (Users, Groups) call; they are otherwise alike."""

    path: str
    id_param: str  # the path parameter naming one resource: /Users/{user_id}
    core_urn: str
    lister: Callable[[service.ScimContext, service.ListQuery], dict[str, Any]]
    find: Callable[[service.ScimContext, str], Any]
    render: Callable[[service.ScimContext, Any], dict[str, Any]]
    create: Callable[[service.ScimContext, dict[str, Any]], Any]
    replace: Callable[[service.ScimContext, Any, dict[str, Any]], Any]
    patch: Callable[[service.ScimContext, Any, dict[str, Any]], Any]
    delete: Callable[[service.ScimContext, Any], None]
    reload_after_write: bool = False  # a department's member list is read again after a change
    # How a resource just created is rendered, where that needs less than ``render``.
    render_created: Callable[[service.ScimContext, Any], dict[str, Any]] | None = None
    # Where resources are small: the point reads (``scim_point_read``) of this type.
    point: PointReadRoutes | None = None


@dataclass(frozen=True)
class PointReadRoutes:
    """A resource type's small reads: a listing whose filter finds at most one resource by its
    key (``key_of_filter`` gives the key, or None), and one resource by id, rendered."""

    key_of_filter: Callable[[str], str | None]
    lister: Callable[[service.ReadContext, service.ListQuery], dict[str, Any]]
    read_one: Callable[[service.ReadContext, str], dict[str, Any]]


USERS = ResourceRoutes(
    path="/Users",
    id_param="user_id",
    core_urn=CORE_USER,
    lister=service.list_users,
    find=service.get_scim_user,
    render=service.render_user,
    create=service.create_user,
    replace=service.replace_user,
    patch=service.patch_user,
    delete=service.delete_scim_user,
    render_created=service.render_new_user,
    point=PointReadRoutes(
        key_of_filter=filters.user_name_equal_to, lister=service.list_users, read_one=service.shown_user
    ),
)
GROUPS = ResourceRoutes(
    path="/Groups",
    id_param="group_id",
    core_urn=CORE_GROUP,
    lister=service.list_groups,
    find=service.get_scim_group,
    render=service.render_group,
    create=service.create_group,
    replace=service.replace_group,
    patch=service.patch_group,
    delete=service.delete_group,
    reload_after_write=True,
)


def _resource_routes(kind: ResourceRoutes) -> list[Route]:
    """List, search, create, read, replace, patch and delete for one resource type (RFC 7644 §3)."""
    one = f"{kind.path}/{{{kind.id_param}}}"

    def current(ctx: service.ScimContext, request: Request) -> Any:
        """The resource the path names, after the request's If-Match (when sent) matched its version."""
        found = kind.find(ctx, request.path_params[kind.id_param])
        service.check_if_match(request.headers.get("if-match"), kind.render(ctx, found))
        return found

    def written(ctx: service.ScimContext, request: Request, found: Any, status_code: int) -> Response:
        if kind.reload_after_write:
            ctx.session.refresh(found)
        render = kind.render_created if status_code == 201 and kind.render_created else kind.render
        return _written(request, render(ctx, found), status_code, core_urn=kind.core_urn)

    async def list_resources(request: Request) -> Response:
        point = kind.point
        text = request.query_params.get("filter")
        if point is not None and text is not None and point.key_of_filter(text) is not None:
            lister = point.lister

            def by_key(ctx: service.ReadContext) -> Response:
                return scim_json(lister(ctx, service.read_list_query(_query_params(request))))

            return await scim_point_read(request, by_key)

        def work(ctx: service.ScimContext) -> Response:
            return scim_json(kind.lister(ctx, service.read_list_query(_query_params(request))))

        return await scim_call(request, work)

    async def search_resources(request: Request) -> Response:
        return await scim_call_with_body(  # a read sent as POST: it takes no write lock
            request,
            lambda ctx, body: scim_json(kind.lister(ctx, service.read_list_query(body))),
            writes=False,
        )

    async def create_resource(request: Request) -> Response:
        return await scim_call_with_body(
            request, lambda ctx, body: written(ctx, request, kind.create(ctx, body), 201)
        )

    async def get_resource(request: Request) -> Response:
        wanted = request.path_params[kind.id_param]
        if kind.point is not None:
            read_one = kind.point.read_one
            return await scim_point_read(
                request, lambda ctx: _single(request, read_one(ctx, wanted), core_urn=kind.core_urn)
            )

        def work(ctx: service.ScimContext) -> Response:
            return _single(request, kind.render(ctx, kind.find(ctx, wanted)), core_urn=kind.core_urn)

        return await scim_call(request, work)

    async def replace_resource(request: Request) -> Response:
        def work(ctx: service.ScimContext, body: dict[str, Any]) -> Response:
            found = kind.replace(ctx, current(ctx, request), body)
            return written(ctx, request, found, 200)

        return await scim_call_with_body(request, work)

    async def patch_resource(request: Request) -> Response:
        def work(ctx: service.ScimContext, body: dict[str, Any]) -> Response:
            found = kind.patch(ctx, current(ctx, request), body)
            return written(ctx, request, found, 200)

        return await scim_call_with_body(request, work)

    async def delete_resource(request: Request) -> Response:
        def work(ctx: service.ScimContext) -> Response:
            kind.delete(ctx, current(ctx, request))
            return Response(status_code=204)

        return await scim_call(request, work)

    return [
        Route(kind.path, list_resources, methods=["GET"]),
        Route(kind.path + "/.search", search_resources, methods=["POST"]),
        Route(kind.path, create_resource, methods=["POST"]),
        Route(one, get_resource, methods=["GET"]),
        Route(one, replace_resource, methods=["PUT"]),
        Route(one, patch_resource, methods=["PATCH"]),
        Route(one, delete_resource, methods=["DELETE"]),
    ]


async def service_provider_config(request: Request) -> Response:
    return await scim_point_read(
        request, lambda ctx: scim_json(schemas.service_provider_config(ctx.base_url))
    )


def _catalog_routes(path: str, noun: str, entries: Callable[[str], list[dict[str, Any]]]) -> list[Route]:
    """A read-only catalog the server describes itself with (/Schemas, /ResourceTypes): the list,
    and one entry by its id (case-insensitively)."""

    async def listing(request: Request) -> Response:
        def work(ctx: service.ReadContext) -> Response:
            found = entries(ctx.base_url)
            return scim_json(service.list_response(found, len(found), service.ListQuery()))

        return await scim_point_read(request, work)

    async def entry(request: Request) -> Response:
        wanted = request.path_params["entry_id"]

        def work(ctx: service.ReadContext) -> Response:
            for found in entries(ctx.base_url):
                if found["id"].lower() == wanted.lower():
                    return scim_json(found)
            raise NotFoundException(detail=f"{noun} {wanted} not found.")

        return await scim_point_read(request, work)

    return [Route(path, listing, methods=["GET"]), Route(path + "/{entry_id}", entry, methods=["GET"])]


async def search_everything(request: Request) -> Response:
    return await scim_call_with_body(  # a read sent as POST: it takes no write lock
        request,
        lambda ctx, body: scim_json(service.search_all(ctx, service.read_list_query(body))),
        writes=False,
    )


# Endpoints of RFC 7644 that Roster does not offer: 501, as §3.7 (bulk) and §3.11 (/Me) ask, to
# a caller with a token (ServiceProviderConfig says bulk is not supported).
NOT_IMPLEMENTED = {
    "/Bulk": "Bulk operations are not supported (see ServiceProviderConfig): send each request on its own.",
    "/Me": "/Me is not supported: SCIM tokens belong to an identity provider, not to a person.",
}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _not_implemented(detail: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await scim_point_read(request, lambda ctx: scim_error(501, detail))

    return endpoint


def create_scim_app(parent: FastAPI) -> Starlette:
    """The SCIM server, sharing the parent application's settings and database sessions.

    A plain Starlette application: its endpoints take the request and nothing else (no dependencies,
    no request models), so FastAPI's layers around each call would be pure cost here.
    """
    routes = [
        Route("/ServiceProviderConfig", service_provider_config, methods=["GET"]),
        *_catalog_routes("/Schemas", "Schema", schemas.schemas),
        *_catalog_routes("/ResourceTypes", "Resource type", schemas.resource_types),
        Route("/.search", search_everything, methods=["POST"]),
        *_resource_routes(USERS),
        *_resource_routes(GROUPS),
        *(
            Route(path, _not_implemented(detail), methods=ALL_METHODS)
            for path, detail in NOT_IMPLEMENTED.items()
        ),
    ]
    app = Starlette(routes=routes, exception_handlers=ERROR_HANDLERS)
    app.state = parent.state
    return app
