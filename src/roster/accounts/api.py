"""Sign-in, sign-out, the caller's own account, personal access tokens, password reset."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from roster.accounts import service
from roster.accounts.deps import DB, AppSettings, CurrentUser, SignedIn
from roster.accounts.ratelimit import client_address
from roster.accounts.schemas import (
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PersonalTokenIn,
    PersonalTokenOut,
    UserOut,
    user_out,
)
from roster.accounts.security import csrf_token_for

PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]

router = APIRouter(tags=["sign-in"])


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, session: DB, settings: AppSettings) -> LoginOut:
    """Exchange credentials for a bearer token. Every failure answers 401 ``invalid_credentials``."""
    with request.app.state.login_limiter.attempt(
        organization=body.organization, email=body.email, address=client_address(request)
    ):
        user = service.authenticate(
            session, organization=body.organization, email=body.email, password=body.password
        )
    issued = service.issue_token(session, user, kind="bearer", lifetime=timedelta(days=settings.session_days))
    return LoginOut(access_token=issued.secret, user=user_out(user))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: CurrentUser, session: DB) -> Response:
    """End the session or token used for this request (a personal access token's end is audited)."""
    service.end_credential(session, principal.token, actor=principal.user)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie("roster_session", path="/")
    return response


@router.get("/me", response_model=UserOut)
async def me(caller: SignedIn) -> UserOut:
    """The signed-in person (one hand-over: see ``Caller``)."""
    return await caller.run(lambda _session, principal: user_out(principal.user))


@router.get("/auth/csrf")
def csrf(principal: CurrentUser, settings: AppSettings) -> dict[str, str]:
    """The CSRF token that cookie-authenticated writes send as ``X-CSRF-Token``."""
    return {"csrf_token": csrf_token_for(principal.secret, settings.resolved_secret_key)}


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChangeIn, request: Request, principal: CurrentUser, session: DB
) -> Response:
    """Change one's own password; a wrong current password is 422 ``wrong_password``, and counts
    against the sign-in limits as a failed sign-in does."""
    with request.app.state.login_limiter.attempt(
        **service.sign_in_names(session, principal.user), address=client_address(request)
    ):
        service.change_password(
            session,
            principal.user,
            current=body.current_password,
            new=body.new_password,
            keep=principal.token,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PersonalTokenList(BaseModel):
    items: list[PersonalTokenOut]
    total: int


@router.get("/me/tokens", response_model=PersonalTokenList)
def list_tokens(
    principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50
) -> PersonalTokenList:
    """One's personal access tokens, expired ones included (never their secrets), a page at a time."""
    found = service.list_personal_tokens(session, principal.user)
    shown = found[(page - 1) * per_page : page * per_page]
    return PersonalTokenList(
        items=[PersonalTokenOut.model_validate(t, from_attributes=True) for t in shown], total=len(found)
    )


@router.post("/me/tokens", response_model=PersonalTokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: PersonalTokenIn, principal: CurrentUser, session: DB) -> PersonalTokenOut:
    """A personal access token for scripts; the secret is shown once."""
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = service.issue_token(session, principal.user, kind="pat", name=body.name, lifetime=lifetime)
    out = PersonalTokenOut.model_validate(issued.token, from_attributes=True)
    out.token = issued.secret
    return out


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_token(token_id: uuid.UUID, principal: CurrentUser, session: DB) -> Response:
    """Revoke one of one's personal access tokens (audited). Revoked already, it is 404, as a
    department deleted twice is: the route answers the same for an id that was never the caller's."""
    token = service.get_personal_token(session, principal.user, token_id)
    service.revoke_personal_token(session, token, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED)
def request_password_reset(
    body: PasswordResetIn, request: Request, session: DB, settings: AppSettings
) -> dict[str, str]:
    """Mail a reset link if the account exists. The answer is the same either way."""
    request.app.state.login_limiter.hit(
        organization=body.organization, email=body.email, address=client_address(request)
    )
    service.request_password_reset(session, settings, organization=body.organization, email=body.email)
    return {"detail": "If the account exists, a reset link is on its way."}


@router.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm_password_reset(body: PasswordResetConfirmIn, session: DB) -> Response:
    service.reset_password(session, secret=body.token, password=body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
