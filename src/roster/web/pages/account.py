"""Signing in and out, forgotten passwords, and the home page."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.deps import DB, SESSION_COOKIE, OptionalUser
from roster.accounts.models import Organization
from roster.accounts.ratelimit import client_address
from roster.domain import errors
from roster.lifecycle import invitations
from roster.web.core import (
    AnonymousCsrf,
    WebUser,
    app_settings,
    keep_form,
    kept_form,
    redirect,
    render,
    safe_next,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(principal: OptionalUser) -> Response:
    """Signed-in people land on the stream; everyone else on the sign-in page."""
    return redirect("/stream" if principal is not None else "/login")


@router.get("/login")
def login_form(request: Request, principal: OptionalUser, next: str = "", org: str = "") -> Response:
    if principal is not None:
        return redirect(safe_next(next))
    return render(request, "account/login.html", {"next": next, "values": {"organization": org}})


@router.post("/login")
def login(
    request: Request,
    session: DB,
    _csrf: AnonymousCsrf,
    organization: Annotated[str, Form(max_length=63)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the credentials, start a browser session (an HttpOnly cookie) and go on."""
    values = {"organization": organization, "email": email}
    missing = {
        name: "Fill this in."
        for name, value in (("organization", organization), ("email", email), ("password", password))
        if not value.strip()
    }
    if missing:
        return render(
            request,
            "account/login.html",
            {"next": next, "values": values, "field_errors": missing},
            status_code=422,
        )
    try:
        with request.app.state.login_limiter.attempt(
            organization=organization, email=email, address=client_address(request)
        ):
            user = accounts.authenticate(session, organization=organization, email=email, password=password)
    except errors.TooManyRequests:
        return render(
            request,
            "account/login.html",
            {
                "next": next,
                "values": values,
                "error": "Too many attempts. Wait a few minutes, then try again.",
            },
            status_code=429,
        )
    except errors.InvalidCredentials:
        return render(
            request,
            "account/login.html",
            {
                "next": next,
                "values": values,
                "error": "The organization, email or password is not right. Check them and try again.",
            },
            status_code=401,
        )
    settings = app_settings(request)
    issued = accounts.issue_token(
        session, user, kind="session", lifetime=timedelta(days=settings.session_days)
    )
    response = redirect(safe_next(next))
    set_session_cookie(response, request, issued.secret)
    return response


@router.post("/logout")
def logout(request: Request, principal: WebUser, session: DB) -> Response:
    """End this browser's session."""
    accounts.end_credential(session, principal.token, actor=principal.user)
    response = redirect("/login", request, "You are signed out. See you soon.", "info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/forgot-password")
def forgot_password_form(request: Request, org: str = "") -> Response:
    return render(request, "account/forgot.html", {"values": {"organization": org}})


@router.post("/forgot-password")
def forgot_password(
    request: Request,
    session: DB,
    _csrf: AnonymousCsrf,
    organization: Annotated[str, Form(max_length=63)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Mail a reset link when the account exists; the answer is the same either way."""
    values = {"organization": organization, "email": email}
    missing = {
        name: "Fill this in."
        for name, value in (("organization", organization), ("email", email))
        if not value.strip()
    }
    if missing:
        # Nothing to look up: say what is missing rather than "a link is on its way" to no one.
        return render(
            request, "account/forgot.html", {"values": values, "field_errors": missing}, status_code=422
        )
    try:
        request.app.state.login_limiter.hit(
            organization=organization, email=email, address=client_address(request)
        )
    except errors.TooManyRequests:
        return render(
            request,
            "account/forgot.html",
            {"values": values, "error": "Too many attempts. Wait a few minutes, then try again."},
            status_code=429,
        )
    accounts.request_password_reset(session, app_settings(request), organization=organization, email=email)
    return render(request, "account/forgot_sent.html", {"email": email})


@router.get("/reset-password/{reset_token}")
def reset_password_form(request: Request, session: DB, reset_token: str) -> Response:
    try:
        _reset, user = accounts.get_password_reset(session, reset_token)
    except (errors.InvalidToken, errors.TokenExpired) as exc:
        return render(request, "account/link_invalid.html", {"detail": exc.detail}, status_code=exc.status)
    return render(request, "account/reset.html", {"token": reset_token, "email": user.email})


@router.post("/reset-password/{reset_token}")
def reset_password(
    request: Request,
    session: DB,
    reset_token: str,
    _csrf: AnonymousCsrf,
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set the new password; every session of the account ends, then the person signs in."""
    try:
        _reset, user = accounts.get_password_reset(session, reset_token)
    except (errors.InvalidToken, errors.TokenExpired) as exc:
        return render(request, "account/link_invalid.html", {"detail": exc.detail}, status_code=exc.status)
    field_errors: dict[str, str] = {}
    if password != password_again:
        field_errors["password_again"] = "The two passwords are not the same."
    else:
        try:
            with session.begin_nested():
                accounts.reset_password(session, secret=reset_token, password=password)
        except errors.WeakPassword as exc:
            field_errors["password"] = exc.detail
    if field_errors:
        return render(
            request,
            "account/reset.html",
            {"token": reset_token, "email": user.email, "field_errors": field_errors},
            status_code=422,
        )
    organization = session.get(Organization, user.org_id)
    slug = organization.slug if organization else ""
    return redirect(f"/login?org={slug}", request, "Your password is changed. Sign in with the new one.")


# --- Accepting an invitation ----------------------------------------------------------------


def _invitation_or_page(request: Request, session: Session, token: str) -> tuple[Any, Any] | Response:
    try:
        return invitations.lookup_invitation(session, token)
    except errors.RosterError as exc:
        expired = exc.status == 410
        return render(
            request,
            "account/link_invalid.html",
            {
                "detail": "This invitation has expired." if expired else "This invitation link is not valid.",
                "help": "Ask your administrator to send you a new invitation."
                if expired
                else "It may have been used already, revoked, or replaced by a newer one. "
                "Ask your administrator for a new invitation.",
            },
            status_code=exc.status,
        )


@router.get("/invite/{invite_token}")
def invitation_form(request: Request, session: DB, invite_token: str) -> Response:
    """The invited person sets their name and password."""
    found = _invitation_or_page(request, session, invite_token)
    if isinstance(found, Response):
        return found
    invitation, org = found
    kept = kept_form(request)  # a refused attempt, sent back here so Back never posts it again
    return render(
        request,
        "account/accept.html",
        {
            "token": invite_token,
            "invitation": invitation,
            "organization": org,
            "values": kept.get("values")
            or {"first_name": invitation.first_name, "last_name": invitation.last_name},
            "field_errors": kept.get("field_errors") or {},
            "error": kept.get("error") or "",
        },
    )


@router.post("/invite/{invite_token}")
def accept_invitation(
    request: Request,
    session: DB,
    invite_token: str,
    _csrf: AnonymousCsrf,
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Create the account from the invitation and sign the person in."""
    found = _invitation_or_page(request, session, invite_token)
    if isinstance(found, Response):
        return found
    _invitation, org = found
    values = {"first_name": first_name, "last_name": last_name}
    field_errors: dict[str, str] = {}
    error = ""
    if not first_name.strip():
        field_errors["first_name"] = "Tell your colleagues your first name."
    if password != password_again:
        field_errors["password_again"] = "The two passwords are not the same."
    if not field_errors:
        try:
            with session.begin_nested():
                user, api_token = invitations.accept_invitation(
                    session,
                    token=invite_token,
                    password=password,
                    first_name=first_name,
                    last_name=last_name,
                    settings=app_settings(request),
                )
        except errors.WeakPassword as exc:
            field_errors["password"] = exc.detail
        except errors.RosterError as exc:
            error = exc.detail
    if field_errors or error:
        # Post/redirect/get: the form comes back on a GET, with what was typed (passwords aside).
        return keep_form(
            redirect(f"/invite/{quote(invite_token, safe='')}"),
            request,
            {"values": values, "field_errors": field_errors, "error": error},
        )
    settings = app_settings(request)
    # The browser gets a session of its own; the API token that accepting issues is not needed.
    accounts.revoke_token(session, api_token.token)
    issued = accounts.issue_token(
        session, user, kind="session", lifetime=timedelta(days=settings.session_days)
    )
    response = redirect("/stream", request, f"Welcome to {org.name}, {user.display_name}!")
    set_session_cookie(response, request, issued.secret)
    return response
