"""RFC 9457 problem+json answers for every error."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from roster.concurrency import run_sync
from roster.domain import errors
from roster.middleware import HEAD_REQUEST

log = logging.getLogger("roster.errors")

PROBLEM_TYPE = "https://roster.invalid/problems/"
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    503: "unavailable",
}


# RFC 6750's challenge: every 401 says how to authenticate (RFC 9110 requires one on every 401).
BEARER_CHALLENGE = 'Bearer realm="roster"'
INVALID_TOKEN_CHALLENGE = BEARER_CHALLENGE + ', error="invalid_token"'
JSON_BODY = "application/json (or another application/*+json type)"


def problem(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + code, "title": title, "status": status, "detail": detail, "code": code}
    body.update({k: v for k, v in extra.items() if k not in body})
    if status == 401:
        headers = {"WWW-Authenticate": BEARER_CHALLENGE, **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def is_json_media_type(media_type: str) -> bool:
    """``application/json`` or any ``application/*+json`` (``scim+json``, ``merge-patch+json``...),
    parameters such as ``charset`` aside."""
    essence = media_type.partition(";")[0].strip().lower()
    return essence == "application/json" or (essence.startswith("application/") and essence.endswith("+json"))


def reads_as_json(content_type: str | None) -> bool:
    """Whether a request body sent with this ``Content-Type`` is read as JSON: a JSON media type,
    or none at all. A body without the header is JSON, as GitHub's API reads it (a script that
    forgets the header still works); that opens no cross-site hole, since a cookie-authenticated
    write must also carry the ``X-CSRF-Token`` header, which another site cannot send."""
    if content_type is None or not content_type.strip():
        return True
    return is_json_media_type(content_type)


def unsupported_media_type(
    content_type: str | None, accepted: str = JSON_BODY
) -> errors.UnsupportedMediaType:
    """The refusal of a body this route does not read, naming what it accepts."""
    sent = (content_type or "").partition(";")[0].strip() or "none"
    return errors.UnsupportedMediaType(f"Send the body as {accepted}, not {sent}.")


def bearer_challenge(request: Request, exc: errors.Unauthorized) -> str:
    """The ``WWW-Authenticate`` of a 401: ``error="invalid_token"`` when the request presented a
    bearer token that was refused (unknown, expired, revoked, or its person no longer active);
    without one (nothing, a session cookie, credentials in a sign-in body) only the realm, as
    RFC 6750 asks of a request that carried no bearer token."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    presented = scheme.lower() == "bearer" and bool(value.strip())
    if presented and not isinstance(exc, errors.InvalidCredentials):
        return INVALID_TOKEN_CHALLENGE
    return BEARER_CHALLENGE


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (RFC 9110 §15.5.6: a 405's ``Allow``). The
    router's own 405 names only the first route that matched the path, where a path such as
    ``/users/{id}`` has one route for GET and another for PATCH. HEAD goes with GET."""
    allowed = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")
    return [m for m in _METHODS if m in allowed]


def roster_problem(request: Request, exc: errors.RosterError) -> JSONResponse:
    """The problem+json answer of a refusal, with the headers its status calls for."""
    headers: dict[str, str] = {}
    if isinstance(exc, errors.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = bearer_challenge(request, exc)
    elif isinstance(exc, errors.UnsupportedMediaType) and request.method == "PATCH":
        headers["Accept-Patch"] = "application/json"  # RFC 5789: what a PATCH may send instead
    extra = {
        k: (str(v) if not isinstance(v, int | float | bool | str | list | dict | None) else v)
        for k, v in exc.extra.items()
    }
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=headers or None, **extra)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as problem+json lists them: ``{"field", "message"}`` each, the field a
    dotted path inside the body, query or path (None for the body as a whole: JSON that does not
    parse, whose location is only a character position)."""
    problems: list[dict[str, Any]] = []
    for err in raw:
        if err.get("type") == "json_invalid":
            problems.append({"field": None, "message": f"The body is not valid JSON ({err.get('msg', '')})."})
            continue
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]  # where the value came from, not its name (a post's field is "body" too)
        problems.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid")})
    return problems


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details, the answer to every refusal. Some codes add fields of "
    "their own (`field`, `errors`, `user_id`, `invitation_id`, the seat ledger...).",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the problem; ends in `code`."},
        "title": {"type": "string", "description": "A short summary, the same for every answer of a code."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong this time, for a person to read."},
        "code": {"type": "string", "description": "The stable snake_case code scripts act on."},
        "field": {
            "type": ["string", "null"],
            "description": "The request field at fault, where there is one (a dotted path).",
        },
        "errors": {
            "type": "array",
            "description": "Each invalid field and why: with `validation_failed` from schema checks, and "
            "with a refusal of several fields at once (a task's), where each entry has its own `code` "
            "and the people it names.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                    "user_id": {"type": "string"},
                    "user_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}
_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI schema say what refusals look like: FastAPI documents its own 422 body
    (``{"detail": [...]}`` as application/json), which this application never sends."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Invalid input (problem+json)",
                    "content": _PROBLEM_CONTENT,
                }
            if any(map(is_json_media_type, operation.get("requestBody", {}).get("content", {}))):
                responses.setdefault(
                    "415",
                    {
                        "description": "A body sent in a media type other than JSON "
                        "(`unsupported_media_type`, problem+json)",
                        "content": _PROBLEM_CONTENT,
                    },
                )
            responses.setdefault(
                "default", {"description": "A refusal (problem+json)", "content": _PROBLEM_CONTENT}
            )
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f"#/components/schemas/{unused}" not in json.dumps(schema["paths"]):
            schemas.pop(unused)
    return schema


def _body_not_json(request: Request, exc: RequestValidationError) -> bool:
    """The request's body failed because it was not sent as JSON: a route whose body is a model
    (not a form) is handed the raw bytes when the ``Content-Type`` is not JSON, and they fail.
    Checked here, after the route's dependencies, so a caller who is not signed in or not allowed
    hears that first (as with any invalid input); nothing has run, so nothing changed."""
    return (
        isinstance(exc.body, bytes)
        and bool(exc.body)
        and not reads_as_json(request.headers.get("content-type"))
        and any(tuple(err.get("loc", ()))[:1] == ("body",) for err in exc.errors())
    )


def _unreadable_json(exc: StarletteHTTPException) -> str | None:
    """Why a JSON body could not be read, where FastAPI answers 400 ``There was an error parsing
    the body`` (raised from the error itself): bytes that are not UTF-8 (RFC 8259 §8.1), or arrays
    and objects nested too deep to parse. It is invalid input like JSON that does not parse."""
    if exc.status_code != 400:
        return None
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return "The body is not valid JSON (it is not UTF-8)."
    if isinstance(exc.__cause__, RecursionError):
        return "The body is not valid JSON (it nests too deeply)."
    return None


def _names_what_is_missing(exc: DBAPIError) -> bool:
    """Whether a statement failed on a table or column the database does not have."""
    if getattr(exc.orig, "sqlstate", None) in ("42P01", "42703"):  # PostgreSQL: undefined table, column
        return True
    reason = str(exc.orig).lower()
    return "no such table" in reason or "no such column" in reason or "has no column named" in reason


def _schema_problem(request: Request) -> str | None:
    """Why the database cannot serve this Roster (as /readyz says), or None: at this Roster's
    schema, or not answering at all."""
    from roster.db import migrate

    try:
        with request.app.state.sessions["read"]() as session:
            return migrate.schema_problem(session.connection())
    except Exception:
        return None


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.RosterError)
    async def roster_error(request: Request, exc: errors.RosterError) -> JSONResponse:
        return roster_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _body_not_json(request, exc):
            return roster_problem(request, unsupported_media_type(request.headers.get("content-type")))
        problems = field_errors(exc.errors())
        first = problems[0] if problems else {"field": None, "message": "invalid"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return problem(
            422, "validation_failed", "Invalid input", detail, errors=problems, field=first["field"]
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_json(exc)
        if unreadable is not None:
            return problem(
                422,
                "validation_failed",
                "Invalid input",
                unreadable,
                errors=[{"field": None, "message": unreadable}],
                field=None,
            )
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            method = "HEAD" if request.scope.get(HEAD_REQUEST) else request.method
            detail = f"{method} is not answered here; use {', '.join(allowed)}."
        return problem(exc.status_code, code, code.replace("_", " ").capitalize(), detail, headers=headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # A race lost to a concurrent request (two creates of one unique thing): nothing was written.
        log.info("integrity conflict request_id=%s: %s", _request_id(request), exc.orig)
        return problem(
            409, "conflict", "Conflict", "Someone else changed this at the same moment; reload and try again."
        )

    @app.exception_handler(DataError)
    async def unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: a NUL character in text, a
        # number out of range): bad input, and the transaction is rolled back, so nothing changed.
        log.info("value refused by the database request_id=%s: %s", _request_id(request), exc.orig)
        return problem(
            422,
            "validation_failed",
            "Invalid input",
            "A value in the request cannot be stored (for example, text with a NUL character).",
        )

    async def not_migrated(request: Request, exc: DBAPIError) -> JSONResponse | None:
        # New code started before `roster db upgrade`: its statements name columns and tables the
        # database does not have yet. Asked only after such a statement failed.
        if not _names_what_is_missing(exc):
            return None
        reason = await run_sync(_schema_problem, request)
        if reason is None:
            return None
        log.error("request_id=%s: %s", _request_id(request), reason)
        return problem(503, "database_not_migrated", "Not ready", reason, headers={"Retry-After": "30"})

    @app.exception_handler(ProgrammingError)
    async def wrong_schema(request: Request, exc: ProgrammingError) -> Response:
        answer = await not_migrated(request, exc)
        if answer is not None:
            return answer
        handler = request.app.exception_handlers[Exception]  # the pages' own, for a page
        return cast(Response, await handler(request, exc))

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        answer = await not_migrated(request, exc)  # SQLite's "no such column" is an OperationalError
        if answer is not None:
            return answer
        log.warning("database error request_id=%s: %s", _request_id(request), exc.orig)
        return problem(
            503,
            "unavailable",
            "Service unavailable",
            "The database is not answering; try again shortly.",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error request_id=%s", _request_id(request))
        return problem(
            500,
            "internal_error",
            "Internal error",
            f"Something went wrong on our side (request {_request_id(request)}).",
        )
