"""SCIM bearer tokens: created by an admin per organization, shown once, stored hashed, revocable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.accounts.security import hash_secret, new_secret, split_secret
from roster.accounts.service import record_use
from roster.db.prepared import Prepared
from roster.domain import errors
from roster.domain.text import refuse_control_characters
from roster.lifecycle.audit import record_event
from roster.scim.models import ScimToken

MAX_NAME_LENGTH = 100


@dataclass
class IssuedScimToken:
    token: ScimToken
    secret: str


def create_scim_token(session: Session, org_id: uuid.UUID, *, actor: User, name: str = "") -> IssuedScimToken:
    """Create a token for an identity provider; the secret is returned once and only its hash kept."""
    name = refuse_control_characters(name.strip(), field="name")
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


@dataclass(frozen=True, slots=True)
class LiveScimToken:
    """What a SCIM request needs of the token it presented: whose it is, and when it was last used."""

    id: uuid.UUID
    org_id: uuid.UUID
    last_used_at: datetime | None


# Built once, on the table rather than the mapped class: every SCIM request runs them, and loading
# the token as an ORM object cost more than the rest of its authentication.
_tokens: Table = ScimToken.__table__  # type: ignore[assignment]
_LIVE_TOKEN = Prepared(
    select(_tokens.c.id, _tokens.c.org_id, _tokens.c.last_used_at).where(
        _tokens.c.org_id == bindparam("org_id"),
        _tokens.c.token_hash == bindparam("token_hash"),
        _tokens.c.revoked_at.is_(None),
    )
)
_MARK_USED = (
    update(_tokens)
    .where(_tokens.c.org_id == bindparam("of_org"), _tokens.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def resolve_scim_token(reads: Session | Connection, secret: str) -> LiveScimToken | None:
    """The live token for a presented secret, or None."""
    org_id = split_secret(secret)
    if org_id is None:
        return None
    row = _LIVE_TOKEN.execute(reads, {"org_id": org_id, "token_hash": hash_secret(secret)}).first()
    return None if row is None else LiveScimToken(*row)


def touch_scim_token(session: Session, token: LiveScimToken) -> None:
    """Record use, at most once a minute, best effort (``accounts.service.record_use``)."""
    params = {"of_org": token.org_id, "token_id": token.id}
    record_use(session, token.last_used_at, lambda now: session.execute(_MARK_USED, {**params, "now": now}))
