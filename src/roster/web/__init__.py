"""The web application: server-rendered pages on the same services as the API."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from roster.accounts import service as accounts
from roster.accounts.deps import SESSION_COOKIE, Principal
from roster.domain import errors
from roster.middleware import ResponseHeaders
from roster.web.core import (
    CONTENT_SECURITY_POLICY,
    WEB_DIR,
    RefusedFor,
    login_url,
    redirect,
    referring_page,
    render,
    wants_html,
)

Handler = Callable[[Request, Any], Response | Awaitable[Response]]

_TITLES = {
    401: "Please sign in",
    403: "This page is not for you",
    404: "We could not find that page",
    409: "That did not work",
    410: "This link has expired",
    413: "That file is too large",
    422: "Something in the form needs a look",
    429: "Too many attempts",
}


def error_page(
    request: Request,
    status: int,
    detail: str,
    csrf_failed: bool = False,
    admin_only: bool = False,
    person: RefusedFor | None = None,
) -> Response:
    """An error written for people: what happened and where to go next (``admin_only``: the page
    is for administrators, so ask one; ``person``: the refusal of an action on someone, whose page
    it leads back to)."""
    context: dict[str, Any] = {
        "status": status,
        "title": _TITLES.get(status, "Something went wrong"),
        "detail": detail,
        "csrf_failed": csrf_failed,
        "admin_only": admin_only,
    }
    if person is not None:
        context["person"] = {"url": f"/people/{person.person_id}", "name": person.person_name}
    if csrf_failed:
        # Nothing is refused to the person, only to the stale form: say so, and lead back to it.
        context["title"] = "This form has expired"
        context["back"] = referring_page(request)
    # The request's own session is gone (rolled back and closed): read the caller afresh, so the
    # page keeps its navigation for signed-in people.
    with request.app.state.sessions["read"]() as session:
        principal = _fresh_principal(request, session)
        return render(
            request, "error.html", context, principal=principal, session=session, status_code=status
        )


def _fresh_principal(request: Request, session: Session) -> Principal | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    try:
        found = accounts.resolve_token(session, secret)
    except SQLAlchemyError:
        return None
    if found is None:
        return None
    token, user = found
    return Principal(user=user, token=token, secret=secret, via_cookie=True)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str]:
    """A malformed address is a page that does not exist; a malformed form field is explained."""
    problems = exc.errors()
    if any(p.get("loc", ("",))[0] == "path" for p in problems):
        return 404, "The address may be mistyped, or the page has moved."
    first = problems[0] if problems else {}
    names = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    message = str(first.get("msg", "This value is not valid."))
    if not names:
        return 422, message + "."
    return 422, f"{names[-1].replace('_', ' ').capitalize()}: {message[:1].lower()}{message[1:]}."


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    return await result if inspect.isawaitable(result) else result


def _is_page(scope: Scope, headers: MutableHeaders) -> bool:
    """An HTML answer other than the API documentation: it gets the pages' security headers (a
    route that set a stricter Content-Security-Policy, such as a sandboxed HTML download, keeps it)."""
    return headers.get("content-type", "").startswith("text/html") and not str(scope["path"]).startswith(
        ("/docs", "/redoc")
    )


def install(app: FastAPI) -> None:
    """Mount the pages, their static files, people-friendly error pages and the CSP header."""
    from roster.web.pages import routers

    api_roster_error: Handler = app.exception_handlers[errors.RosterError]
    api_http_error: Handler = app.exception_handlers[StarletteHTTPException]

    async def roster_error(request: Request, exc: Exception) -> Response:
        if not wants_html(request) or not isinstance(exc, errors.RosterError):
            return await _call(api_roster_error, request, exc)
        if isinstance(exc, errors.Unauthorized) and not isinstance(exc, errors.InvalidCredentials):
            return redirect(login_url(request))
        return error_page(
            request,
            exc.status,
            exc.detail,
            csrf_failed=isinstance(exc, errors.CsrfFailed),
            admin_only=isinstance(exc, errors.AdminOnly),
        )

    async def refused_for(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RefusedFor)
        if not wants_html(request):
            return await _call(api_roster_error, request, exc.refusal)
        return error_page(request, exc.refusal.status, exc.refusal.detail, person=exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not wants_html(request) or not isinstance(exc, StarletteHTTPException):
            return await _call(api_http_error, request, exc)
        detail = "The address may be mistyped, or the page has moved." if exc.status_code == 404 else ""
        return error_page(request, exc.status_code, detail or str(exc.detail))

    api_validation_error: Handler = app.exception_handlers[RequestValidationError]

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not wants_html(request) or not isinstance(exc, RequestValidationError):
            return await _call(api_validation_error, request, exc)
        status, detail = _validation_detail(exc)
        return error_page(request, status, detail)

    api_unexpected: Handler = app.exception_handlers[Exception]

    async def unexpected(request: Request, exc: Exception) -> Response:
        response = await _call(api_unexpected, request, exc)  # logs the error with the request id
        if not wants_html(request):
            return response
        request_id = getattr(request.state, "request_id", "")
        return error_page(
            request,
            500,
            f"Something went wrong on our side. If it happens again, mention request {request_id}.",
        )

    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(errors.RosterError, roster_error)
    app.add_exception_handler(RefusedFor, refused_for)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    app.add_middleware(
        ResponseHeaders,
        applies=_is_page,
        headers=[
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            ("X-Frame-Options", "DENY"),
            ("Cache-Control", "no-store"),
        ],
        override=["X-Frame-Options"],
    )

    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for router in routers():
        app.include_router(router)
