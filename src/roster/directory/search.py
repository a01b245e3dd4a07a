"""Directory listing, search and autocomplete.

Autocomplete is one range scan per search-key column on a partial index that holds active,
non-system people only (``ix_users_active_*``), each limited, united, ranked and limited again: its
cost depends on ``limit``, not on the size of the organization.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    case,
    false,
    func,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import BindParameter

from roster.accounts.models import User
from roster.cursors import encode_cursor
from roster.directory.keys import prefix_upper_bound, search_key
from roster.directory.models import DepartmentMember
from roster.domain import errors

MAX_AUTOCOMPLETE = 50
# Up to this many matches, a directory search reads each match by key; beyond, it walks the
# organization in name order (see search_users).
FEW_MATCHES = 2000
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


def count_active_people(session: Session, org_id: uuid.UUID) -> int:
    """How many active people the organization has (the System User is not one), counted from an
    active people's index.

    On SQLite the statement also bounds the first-name key from below (every key is at least
    ``''``): without it SQLite's planner counts through any index that starts with ``org_id`` and
    reads each person's row for their status (55 ms at 100,000 people, with statistics or without),
    where the partial index holds only the people it counts (9 ms). The first name's is the only
    index on that key, so the bound can lead nowhere else. PostgreSQL reads a partial index by its
    predicate alone, and the bound would turn it to a table scan there.
    """
    where = [User.org_id == org_id, *active_people()]
    if session.get_bind().dialect.name == "sqlite":
        where.append(User.first_name_key >= "")
    return int(session.scalar(select(func.count()).select_from(User).where(*where)) or 0)


def _key_range(key: InstrumentedAttribute[str], prefix: str) -> list[ColumnElement[bool]]:
    return [key >= prefix, key < prefix_upper_bound(prefix)]


# What a suggestion shows (``directory.schemas.person_suggestion``): pickers read only these.
SUGGESTION_COLUMNS = (
    User.id,
    User.display_name,
    User.status,
    User.is_system,
    User.position,
    User.photo_version,
)


def _people(rows: bool) -> Select[Any]:
    if rows:
        return select(*SUGGESTION_COLUMNS)  # type: ignore[return-value]  # Select[Any] of these columns
    return select(User)


@lru_cache(maxsize=2 * MAX_AUTOCOMPLETE)
def autocomplete_statement(limit: int, *, rows: bool = False) -> Select[Any]:
    """The autocomplete query, built once per limit; run it with :func:`autocomplete_params`.
    It selects whole users, or with ``rows`` only the ``SUGGESTION_COLUMNS``.

    Per key column one range scan on its partial index (``key >= :p AND key < :p_upper``), limited;
    the union of their ids (at most 4 x limit) is ranked: an exact match on any key, then
    first-name matches, then the rest; then by name.
    """
    org_id: BindParameter[uuid.UUID] = bindparam("org_id")
    p: BindParameter[str] = bindparam("p")
    upper: BindParameter[str] = bindparam("p_upper")
    branches = [
        select(User.id.label("id"))
        .where(User.org_id == org_id, *active_people(), key >= p, key < upper)
        .order_by(key)
        .limit(limit)
        .subquery()
        for key in KEY_COLUMNS
    ]
    ids = union(*(select(b.c.id) for b in branches)).subquery()
    rank = case(
        (or_(*(key == p for key in KEY_COLUMNS)), 0),
        (and_(User.first_name_key >= p, User.first_name_key < upper), 1),
        else_=2,
    )
    # The ORDER BY sorts at most 4 x limit rows, never every match.
    return (
        _people(rows)
        .where(User.org_id == org_id, User.id.in_(select(ids.c.id)))
        .order_by(rank, User.display_name_key, User.id)
        .limit(limit)
    )


def autocomplete_params(org_id: uuid.UUID, prefix: str) -> dict[str, Any]:
    """The parameters of :func:`autocomplete_statement` for a folded, non-empty prefix."""
    return {"org_id": org_id, "p": prefix, "p_upper": prefix_upper_bound(prefix)}


def _autocomplete_query(
    org_id: uuid.UUID, q: str, limit: int, rows: bool
) -> tuple[Select[Any], dict[str, Any]]:
    limit = max(1, min(limit, MAX_AUTOCOMPLETE))
    prefix = search_key(q)
    if not prefix:
        statement = (
            _people(rows)
            .where(User.org_id == org_id, *active_people())
            .order_by(User.display_name_key, User.id)
            .limit(limit)
        )
        return statement, {}
    return autocomplete_statement(limit, rows=rows), autocomplete_params(org_id, prefix)


def autocomplete(session: Session, org_id: uuid.UUID, q: str, limit: int = 10) -> list[User]:
    """Active people whose first, last or display name or email starts with ``q`` (any case or
    accents), best matches first; never dismissed, deleted or System users."""
    statement, params = _autocomplete_query(org_id, q, limit, rows=False)
    return list(session.scalars(statement, params))


def autocomplete_rows(session: Session, org_id: uuid.UUID, q: str, limit: int = 10) -> list[Row[Any]]:
    """The people :func:`autocomplete` finds, in its order, as rows of ``SUGGESTION_COLUMNS``: a
    picker shows a few fields, and loading whole users cost it more than the query itself."""
    statement, params = _autocomplete_query(org_id, q, limit, rows=True)
    return list(session.execute(statement, params))


def _status_filter(status: str) -> list[ColumnElement[bool]]:
    if status == "active":
        return active_people()
    if status == "all":
        return []
    return [User.status == status]


def _any_key_matches(prefix: str) -> ColumnElement[bool]:
    return or_(*(and_(*_key_range(key, prefix)) for key in KEY_COLUMNS))


def search_users(
    session: Session,
    org_id: uuid.UUID,
    *,
    q: str | None = None,
    status: str = "active",
    department_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
    after: tuple[str, uuid.UUID] | None = None,
    before: tuple[str, uuid.UUID] | None = None,
) -> tuple[list[User], int]:
    """The directory: users by name, filtered by prefix, status and department, with the total.

    ``after`` (a display-name key and an id, from the last user of a page) reads on from there in
    the same order instead of by ``page``: from the name index, with no OFFSET to walk through.
    ``before`` (from the first user of a page) reads the ``per_page`` users just before it, the
    index walked backwards, and gives them in the list's order. The total is of the whole list
    either way.

    ``status`` other than ``active`` is for admins; the caller checks who is asking.
    """
    if status not in STATUSES:
        raise errors.ValidationFailed(f"status must be one of {', '.join(STATUSES)}.", field="status")
    where: list[ColumnElement[bool]] = [User.org_id == org_id, *_status_filter(status)]
    if status != "active":
        where.append(User.is_system == false())
    if department_id is not None:
        # The department's members, found by its key (a correlated EXISTS made SQLite read every
        # person of the organization and probe the department for each).
        where.append(
            User.id.in_(
                select(DepartmentMember.user_id).where(
                    DepartmentMember.org_id == org_id,
                    DepartmentMember.department_id == department_id,
                    DepartmentMember.hidden_by.is_(None),
                )
            )
        )
    prefix = search_key(q)
    if prefix and status == "active":
        # Active people are counted from one range on each key's partial index, united (as an OR
        # of the four ranges, the count read every active person of the organization). The page
        # then probes each match by key when there are few, and walks the organization in name
        # order when there are many (it stops at the page, and a common prefix fills it soon).
        matching = union(
            *(
                select(User.id).where(User.org_id == org_id, *active_people(), *_key_range(key, prefix))
                for key in KEY_COLUMNS
            )
        )
        if department_id is None:
            total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
        else:
            total = (
                session.scalar(select(func.count()).select_from(User).where(*where, User.id.in_(matching)))
                or 0
            )
        if not total:
            return [], 0
        where.append(User.id.in_(matching) if total <= FEW_MATCHES else _any_key_matches(prefix))
    elif not prefix and status == "active" and department_id is None:
        total = count_active_people(session, org_id)
    else:
        if prefix:
            where.append(_any_key_matches(prefix))
        total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    query = select(User).where(*where).limit(per_page)
    # Cursors are spelled out (not as row values), with the key's own range first, so both
    # databases start the index scan at the cursor.
    if after is not None:
        key, row_id = after
        query = query.where(User.display_name_key >= key, or_(User.display_name_key > key, User.id > row_id))
    elif before is not None:
        key, row_id = before
        query = query.where(User.display_name_key <= key, or_(User.display_name_key < key, User.id < row_id))
        backwards = query.order_by(User.display_name_key.desc(), User.id.desc())
        return list(reversed(session.scalars(backwards).all())), int(total)
    else:
        query = query.offset((page - 1) * per_page)
    users = session.scalars(query.order_by(User.display_name_key, User.id)).all()
    return list(users), int(total)


@dataclass(frozen=True)
class DirectoryPage:
    """One page of the directory and whether the list goes on after it and before it."""

    users: list[User]
    total: int
    more_after: bool
    more_before: bool


def directory_page(
    session: Session,
    org_id: uuid.UUID,
    *,
    q: str | None = None,
    status: str = "active",
    department_id: uuid.UUID | None = None,
    per_page: int = 50,
    page: int = 1,
    after: tuple[str, uuid.UUID] | None = None,
    before: tuple[str, uuid.UUID] | None = None,
) -> DirectoryPage:
    """A page of :func:`search_users` by number, or by cursor (``after`` or ``before``, reading one
    more than the page to know whether the list goes on that way), for the API and the pages."""
    by_cursor = after is not None or before is not None
    found, total = search_users(
        session,
        org_id,
        q=q,
        status=status,
        department_id=department_id,
        page=1 if by_cursor else page,
        per_page=per_page + 1 if by_cursor else per_page,
        after=after,
        before=None if after is not None else before,
    )
    if after is not None:
        return DirectoryPage(found[:per_page], total, more_after=len(found) > per_page, more_before=True)
    if before is not None:
        return DirectoryPage(found[-per_page:], total, more_after=True, more_before=len(found) > per_page)
    return DirectoryPage(found, total, more_after=page * per_page < total, more_before=page > 1)


def cursor_of(user: User) -> str:
    """The cursor at ``user``'s place in the directory (for ``after`` or ``before``)."""
    return encode_cursor(user.display_name_key, user.id)


__all__ = [
    "DirectoryPage",
    "autocomplete",
    "autocomplete_params",
    "autocomplete_rows",
    "autocomplete_statement",
    "count_active_people",
    "cursor_of",
    "directory_page",
    "search_users",
]
