"""My profile: the fields colleagues see, my photo, my password, my personal access tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.deps import DB, Principal
from roster.accounts.ratelimit import client_address
from roster.directory import photos
from roster.directory.service import update_profile
from roster.domain import errors
from roster.web.core import WebUser, redirect, render, show_secret_once, take_secret, zone_for
from roster.web.pages.shared import unchanged_display_name_left_out

router = APIRouter(include_in_schema=False)

# The profile form's choice of the organization's zone over one of one's own.
ORGANIZATIONS_ZONE = "organization"
# The lifetimes the token form offers (days; "" = never expires), as GitLab's form does.
TOKEN_LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


def profile_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
    token_values: dict[str, str] | None = None,
    token_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user = principal.user
    org = principal.organization(session)
    return render(
        request,
        "intranet/profile.html",
        {
            "section": "profile",
            "values": values
            or {
                "first_name": user.first_name,
                "last_name": user.last_name,
                "display_name": user.display_name,
                "position": user.position,
                "timezone": user.timezone or ORGANIZATIONS_ZONE,
            },
            "field_errors": field_errors or {},
            "password_errors": password_errors or {},
            "may_change_photo": photos.may_change_photo(user, user, org),
            "tokens": accounts.list_personal_tokens(session, user),
            "token_values": token_values or {"name": "", "expires_in_days": "90"},
            "token_errors": token_errors or {},
            "token_lifetimes": TOKEN_LIFETIMES,
            "new_token": take_secret(request, principal),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/profile")
def profile(request: Request, principal: WebUser, session: DB) -> Response:
    return profile_page(request, principal, session)


@router.post("/profile")
def save_profile(
    request: Request,
    principal: WebUser,
    session: DB,
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    position: Annotated[str, Form(max_length=200)] = "",
    timezone: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Change my name, display name, position and time zone ("organization" for the
    organization's: an empty value would read as a form without the field)."""
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "display_name": display_name,
        "position": position,
    }
    changes: dict[str, str | None] = dict(unchanged_display_name_left_out(principal.user, values))
    if timezone is not None:  # a form from before the field leaves it as it is
        values["timezone"] = timezone
        changes["timezone"] = None if timezone == ORGANIZATIONS_ZONE else timezone
    try:
        with session.begin_nested():
            update_profile(session, principal.user, actor=principal.user, changes=changes)
    except errors.RosterError as exc:
        field = str(exc.extra.get("field") or "display_name")
        return profile_page(
            request,
            principal,
            session,
            values=values,
            field_errors={field: exc.detail},
            status_code=exc.status,
        )
    return redirect("/profile", request, "Your profile is saved.")


@router.post("/profile/password")
def change_password(
    request: Request,
    principal: WebUser,
    session: DB,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        with (
            request.app.state.login_limiter.attempt(
                **accounts.sign_in_names(session, principal.user), address=client_address(request)
            ),
            session.begin_nested(),
        ):
            accounts.change_password(
                session, principal.user, current=current_password, new=new_password, keep=principal.token
            )
    except errors.WrongPassword:
        return profile_page(
            request,
            principal,
            session,
            password_errors={"current_password": "That is not your current password."},
            status_code=422,
        )
    except errors.TooManyRequests:
        return profile_page(
            request,
            principal,
            session,
            password_errors={"current_password": "Too many attempts. Wait a few minutes, then try again."},
            status_code=429,
        )
    except errors.RosterError as exc:
        return profile_page(
            request, principal, session, password_errors={"new_password": exc.detail}, status_code=exc.status
        )
    return redirect("/profile", request, "Your password is changed. You are signed out everywhere else.")


@router.post("/profile/tokens")
def create_token(
    request: Request,
    principal: WebUser,
    session: DB,
    name: Annotated[str, Form(max_length=100)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A personal access token for scripts (``Authorization: Bearer``), shown once: on the page
    the redirect leads to, never on a reload of it."""
    values = {"name": name, "expires_in_days": expires_in_days}
    problems: dict[str, str] = {}
    if not name.strip():
        problems["name"] = "Name the token after what will use it, e.g. “backup script”."
    if expires_in_days not in {days for days, _ in TOKEN_LIFETIMES}:
        problems["expires_in_days"] = "Choose one of the lifetimes offered."
    if problems:
        return profile_page(
            request, principal, session, token_values=values, token_errors=problems, status_code=422
        )
    lifetime = timedelta(days=int(expires_in_days)) if expires_in_days else None
    with session.begin_nested():
        issued = accounts.issue_token(
            session, principal.user, kind="pat", name=name.strip(), lifetime=lifetime
        )
    response = redirect("/profile#tokens-title")
    return show_secret_once(response, request, principal, issued.secret, path="/profile")


@router.post("/profile/tokens/{token_id}/revoke")
def revoke_token(request: Request, principal: WebUser, session: DB, token_id: uuid.UUID) -> Response:
    """Revoke one of one's tokens. Sent twice (a second tab, Back and the button again), it says the
    token was revoked already, when and by whom, from the audit log; a token that was never the
    caller's stays 404."""
    try:
        token = accounts.get_personal_token(session, principal.user, token_id)
    except errors.NotFound:
        event = accounts.find_personal_token_revocation(session, principal.user, token_id)
        if event is None:
            raise
        when = event.created_at.astimezone(zone_for(session, principal)).strftime("%d %b %Y, %H:%M")
        who = f" by {event.actor_display}" if event.actor_display else ""
        message = (
            f"The token “{event.details.get('name', '')}” was revoked already. It was revoked on {when}{who}."
        )
        return redirect("/profile", request, message, "info")
    name = token.name
    accounts.revoke_personal_token(session, token, actor=principal.user)
    return redirect("/profile", request, f"The token “{name}” is revoked: scripts using it are refused now.")
