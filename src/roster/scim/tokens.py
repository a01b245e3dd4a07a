"""SCIM bearer tokens: created by an admin per organization, shown once, stored hashed, revocable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.accounts.security import hash_secret, new_secret, split_secret
from roster.accounts.service import touch_token
from roster.domain import errors
from roster.lifecycle.audit import record_event
from roster.scim.models import ScimToken

MAX_NAME_LENGTH = 100


@dataclass
class IssuedScimToken:
    token: ScimToken
    secret: str


def create_scim_token(session: Session, org_id: uuid.UUID, *, actor: User, name: str = "") -> IssuedScimToken:
    """Create a token for an identity provider; the secret is returned once and only its hash kept."""
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise errors.ValidationFailed(f"Use at most {MAX_NAME_LENGTH} characters.", field="name")
    secret = new_secret(org_id)
    token = ScimToken(
        org_id=org_id, name=name or "SCIM token", token_hash=hash_secret(secret), created_by=actor.id
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        org_id=org_id,
        action="scim_token.created",
        actor=actor,
        details={"token_id": str(token.id), "name": token.name},
    )
    return IssuedScimToken(token=token, secret=secret)


def list_scim_tokens(session: Session, org_id: uuid.UUID) -> list[ScimToken]:
    """The organization's live (not revoked) tokens, oldest first."""
    return list(
        session.scalars(
            select(ScimToken)
            .where(ScimToken.org_id == org_id, ScimToken.revoked_at.is_(None))
            .order_by(ScimToken.created_at, ScimToken.id)
        )
    )


def get_scim_token(session: Session, org_id: uuid.UUID, token_id: uuid.UUID) -> ScimToken:
    """A live token of this organization, or NotFound."""
    token = session.get(ScimToken, (org_id, token_id))
    if token is None or token.revoked_at is not None:
        raise errors.NotFound("No such SCIM token.")
    return token


def revoke_scim_token(session: Session, token: ScimToken, *, actor: User) -> None:
    """Revoke a token: the identity provider's very next request is refused."""
    token.revoked_at = clock.now()
    session.flush()
    record_event(
        session,
        org_id=token.org_id,
        action="scim_token.revoked",
        actor=actor,
        details={"token_id": str(token.id), "name": token.name},
    )


# Built once: every SCIM request runs it.
_LIVE_TOKEN = select(ScimToken).where(
    ScimToken.org_id == bindparam("org_id"),
    ScimToken.token_hash == bindparam("token_hash"),
    ScimToken.revoked_at.is_(None),
)


def resolve_scim_token(session: Session, secret: str) -> ScimToken | None:
    """The live token for a presented secret, or None."""
    org_id = split_secret(secret)
    if org_id is None:
        return None
    return session.scalar(_LIVE_TOKEN, {"org_id": org_id, "token_hash": hash_secret(secret)})


def touch_scim_token(session: Session, token: ScimToken) -> None:
    """Record use, at most once a minute, best effort (see ``accounts.service.touch_token``)."""
    touch_token(session, token)
