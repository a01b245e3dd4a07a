"""Short ways to make what tests need. Everything goes through the real services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.accounts.security import hash_password
from roster.domain.users import Role, UserStatus

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose


@dataclass
class OrgWithAdmin:
    org: Organization
    admin: User


def make_org(db: Session, *, slug: str | None = None, plan: str = "free") -> OrgWithAdmin:
    """An organization with its System User and one admin (password ``PASSWORD``)."""
    slug = slug or f"org-{secrets.token_hex(4)}"
    org, admin = accounts.create_organization(
        db,
        slug=slug,
        name=f"Org {slug}",
        plan=plan,
        admin_email=f"admin@{slug}.test",
        admin_password=PASSWORD,
        admin_first_name="Ada",
        admin_last_name="Admin",
    )
    return OrgWithAdmin(org=org, admin=admin)


def make_user(
    db: Session,
    org: Organization,
    *,
    first_name: str = "Erin",
    last_name: str | None = None,
    email: str | None = None,
    role: Role = Role.EMPLOYEE,
    dismissed: bool = False,
    position: str = "",
) -> User:
    """A user written directly (no invitation, no seat), for tests that are not about seats."""
    last_name = last_name if last_name is not None else f"Test{secrets.token_hex(2)}"
    email = email or f"{first_name.lower()}.{last_name.lower()}.{secrets.token_hex(2)}@{org.slug}.test"
    user = User(
        org_id=org.id,
        email=email,
        email_key=accounts.email_key(email),
        first_name=first_name,
        last_name=last_name,
        display_name=accounts.compose_display_name(first_name, last_name),
        role=role.value,
        password_hash=_PASSWORD_HASH,
        position=position,
        status=UserStatus.DISMISSED.value if dismissed else UserStatus.ACTIVE.value,
        dismissed_at=clock.now() if dismissed else None,
    )
    db.add(user)
    db.flush()
    return user


def token_for(db: Session, user: User) -> str:
    """A bearer token for the user, without going through the (rate-limited) login route."""
    return accounts.issue_token(db, user, kind="bearer").secret


def auth(db: Session, user: User) -> dict[str, str]:
    """Authorization headers for the user."""
    return {"Authorization": f"Bearer {token_for(db, user)}"}
