"""Directory listing, search and autocomplete.

Autocomplete is one range scan per search-key column on a partial index that holds active,
non-system people only (``ix_users_active_*``), each limited, united, ranked and limited again: its
cost depends on ``limit``, not on the size of the organization.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, false, func, literal_column, or_, select, union
from sqlalchemy.orm import InstrumentedAttribute, Session

from roster.accounts.models import User
from roster.directory.keys import prefix_upper_bound, search_key
from roster.directory.models import DepartmentMember
from roster.domain import errors
from roster.domain.users import UserStatus

MAX_AUTOCOMPLETE = 50
STATUSES = ("active", "dismissed", "deleted", "all")

KEY_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (
    User.first_name_key,
    User.last_name_key,
    User.display_name_key,
    User.email_search_key,
)


def active_people() -> list[ColumnElement[bool]]:
    """The partial indexes' predicate, spelled with literals so the planners can match it."""
    return [User.status == literal_column("'active'"), User.is_system == false()]


def _key_range(key: InstrumentedAttribute[str], prefix: str) -> list[ColumnElement[bool]]:
    return [key >= prefix, key < prefix_upper_bound(prefix)]


def autocomplete_statement(org_id: uuid.UUID, prefix: str, limit: int) -> Select[Any]:
    """The autocomplete query for a normalized, non-empty prefix: ids of at most ``limit`` users."""
    branches = [
        select(User.id.label("id"))
        .where(User.org_id == org_id, *active_people(), *_key_range(key, prefix))
        .order_by(key)
        .limit(limit)
        .subquery()
        for key in KEY_COLUMNS
    ]
    ids = union(*(select(b.c.id) for b in branches)).subquery()
    rank = case(
        (
            or_(
                User.first_name_key == prefix,
                User.last_name_key == prefix,
                User.display_name_key == prefix,
                User.email_search_key == prefix,
            ),
            0,
        ),
        (User.first_name_key.startswith(prefix, autoescape=True), 1),
        else_=2,
    )
    # The ORDER BY sorts at most 4 x limit rows, never every match.
    return (
        select(User)
        .where(User.org_id == org_id, User.id.in_(select(ids.c.id)))
        .order_by(rank, User.display_name_key, User.id)
        .limit(limit)
    )


def autocomplete(session: Session, org_id: uuid.UUID, q: str, limit: int = 10) -> list[User]:
    """Active people whose first, last or display name or email starts with ``q`` (any case or
    accents), best matches first; never dismissed, deleted or System users."""
    limit = max(1, min(limit, MAX_AUTOCOMPLETE))
    prefix = search_key(q)
    if not prefix:
        statement = (
            select(User)
            .where(User.org_id == org_id, *active_people())
            .order_by(User.display_name_key)
            .limit(limit)
        )
        return list(session.scalars(statement))
    return list(session.scalars(autocomplete_statement(org_id, prefix, limit)))


def _status_filter(status: str) -> list[ColumnElement[bool]]:
    if status == "active":
        return active_people()
    if status == "all":
        return []
    return [User.status == status]


def search_users(
    session: Session,
    org_id: uuid.UUID,
    *,
    q: str | None = None,
    status: str = "active",
    department_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[User], int]:
    """The directory: users by name, filtered by prefix, status and department, with the total.

    ``status`` other than ``active`` is for admins; the caller checks who is asking.
    """
    if status not in STATUSES:
        raise errors.ValidationFailed(f"status must be one of {', '.join(STATUSES)}.", field="status")
    where: list[ColumnElement[bool]] = [User.org_id == org_id, *_status_filter(status)]
    if status != "active":
        where.append(User.is_system == false())
    prefix = search_key(q)
    if prefix:
        where.append(or_(*(_and(_key_range(key, prefix)) for key in KEY_COLUMNS)))
    if department_id is not None:
        where.append(
            exists().where(
                DepartmentMember.org_id == User.org_id,
                DepartmentMember.user_id == User.id,
                DepartmentMember.department_id == department_id,
                DepartmentMember.hidden_by.is_(None),
            )
        )
    total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    users = session.scalars(
        select(User)
        .where(*where)
        .order_by(User.display_name_key, User.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(users), int(total)


def _and(terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    from sqlalchemy import and_

    return and_(*terms)


__all__ = ["UserStatus", "autocomplete", "autocomplete_statement", "search_users"]
