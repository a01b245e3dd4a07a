"""Departments: the company structure as a tree, with a head and members.

Entry points (API, SCIM Groups, CLI) call these functions; none of them commits.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.accounts.service import lock_organization, require_active_user
from roster.directory.models import Department, DepartmentMember
from roster.domain import errors
from roster.domain.text import has_control_characters, refuse_control_characters
from roster.ids import new_id

if TYPE_CHECKING:
    from roster.lifecycle.models import AuditEvent


class Unset(Enum):
    """Marks a keyword argument that was not given (``None`` means "clear it")."""

    UNSET = "unset"


UNSET = Unset.UNSET
MAX_DEPTH = 100  # deeper trees are refused; real companies stay far below


def _audit(
    session: Session,
    org_id: uuid.UUID,
    action: str,
    actor: User | None,
    details: dict[str, Any],
    subject: User | None = None,
) -> None:
    from roster.lifecycle.audit import record_event

    record_event(session, org_id=org_id, action=action, actor=actor, subject=subject, details=details)


def department_name_key(name: str) -> str:
    """How department names compare: case-insensitive, whitespace-collapsed."""
    return " ".join(name.split()).casefold()[:200]


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise errors.ValidationFailed("The department name must not be empty.", field="name")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise errors.ValidationFailed("Control characters are not allowed.", field="name")
    if len(cleaned) > 200:
        raise errors.ValidationFailed("Use at most 200 characters.", field="name")
    return cleaned


def get_department(session: Session, org_id: uuid.UUID, department_id: uuid.UUID) -> Department:
    """A department of this organization, or NotFound."""
    department = session.get(Department, (org_id, department_id))
    if department is None:
        raise errors.NotFound("No such department.")
    return department


def find_deletion(session: Session, org_id: uuid.UUID, department_id: uuid.UUID) -> AuditEvent | None:
    """The audit event that recorded this department's deletion (its newest), or None: how a delete
    sent twice tells "deleted already" from "never here". Read through the action index; a
    department is deleted once, so the organization's ``department.deleted`` events are few."""
    from roster.lifecycle.models import AuditEvent

    return session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.org_id == org_id,
            AuditEvent.action == "department.deleted",
            AuditEvent.details["department_id"].as_string() == str(department_id),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()


def get_named_department(
    session: Session, org_id: uuid.UUID, department_id: uuid.UUID, *, field: str
) -> Department:
    """A department of this organization named by a field of a request (a ``parent_id``), not by
    its path: ``unknown_department`` (422) for that field when there is none, as a CSV row naming
    one that does not exist is."""
    department = session.get(Department, (org_id, department_id))
    if department is None:
        raise errors.UnknownDepartment("No such department.", field=field)
    return department


def get_department_by_external_id(session: Session, org_id: uuid.UUID, external_id: str) -> Department | None:
    """The department an identity provider knows by ``external_id``, if any."""
    return session.scalars(
        select(Department)
        .where(Department.org_id == org_id, Department.external_id == external_id)
        .order_by(Department.id)
        .limit(1)
    ).first()


def get_department_names(
    session: Session, org_id: uuid.UUID, department_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names of the departments with these ids that still exist, in one query."""
    wanted = set(department_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Department.id, Department.name).where(Department.org_id == org_id, Department.id.in_(wanted))
    )
    return {row[0]: row[1] for row in rows}


def list_departments(
    session: Session,
    org_id: uuid.UUID,
    *,
    name_filter: str | None = None,
    parent_id: uuid.UUID | Unset | None = UNSET,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Department], int]:
    """Departments by name (``name_filter``: case-insensitive equality), with the total count."""
    where = [Department.org_id == org_id]
    if name_filter is not None:
        if has_control_characters(name_filter):
            return [], 0  # no name has one (they are refused), and PostgreSQL cannot compare NUL
        where.append(Department.name_key == department_name_key(name_filter))
    if parent_id is not UNSET:
        where.append(
            Department.parent_id.is_(None) if parent_id is None else Department.parent_id == parent_id
        )
    total = session.scalar(select(func.count()).select_from(Department).where(*where)) or 0
    items = session.scalars(
        select(Department)
        .where(*where)
        .order_by(Department.name_key, Department.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(items), int(total)


def _lock_tree(session: Session, org_id: uuid.UUID) -> None:
    # Reparenting reads the ancestors and then writes: two concurrent moves could otherwise close a
    # cycle between them. The organization row serialises tree changes (SQLite writers already
    # hold the database's write lock).
    lock_organization(session, org_id)


def _check_parent(
    session: Session, org_id: uuid.UUID, department_id: uuid.UUID | None, parent_id: uuid.UUID
) -> None:
    """The parent exists, and is neither the department nor one of its descendants."""
    get_named_department(session, org_id, parent_id, field="parent_id")
    current: uuid.UUID | None = parent_id
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        if current == department_id:
            raise errors.DepartmentCycle(
                "A department cannot be placed under itself or one of its sub-departments.",
                field="parent_id",
            )
        current = session.scalar(
            select(Department.parent_id).where(Department.org_id == org_id, Department.id == current)
        )
    raise errors.ValidationFailed("The department tree is too deep.", field="parent_id")


def create_department(
    session: Session,
    org_id: uuid.UUID,
    *,
    actor: User | None,
    name: str,
    parent_id: uuid.UUID | None = None,
    head_id: uuid.UUID | None = None,
    external_id: str | None = None,
) -> Department:
    """Create a department; the parent must exist and the head must be an active user."""
    name = _clean_name(name)
    if external_id is not None:
        refuse_control_characters(external_id, field="external_id")
    if parent_id is not None:
        _check_parent(session, org_id, None, parent_id)
    if head_id is not None:
        require_active_user(session, org_id, head_id, field="head_id")
    department = Department(
        org_id=org_id,
        name=name,
        name_key=department_name_key(name),
        parent_id=parent_id,
        head_id=head_id,
        external_id=external_id,
    )
    session.add(department)
    session.flush()
    _audit(
        session,
        org_id,
        "department.created",
        actor,
        {
            "department_id": str(department.id),
            "name": name,
            "parent_id": str(parent_id) if parent_id else None,
        },
    )
    return department


def update_department(
    session: Session,
    department: Department,
    *,
    actor: User | None,
    name: str | Unset = UNSET,
    parent_id: uuid.UUID | Unset | None = UNSET,
    head_id: uuid.UUID | Unset | None = UNSET,
    external_id: str | Unset | None = UNSET,
) -> Department:
    """Change what is given (``None`` clears the parent, head or external id); refuses cycles."""
    org_id = department.org_id
    changes: dict[str, Any] = {}
    if name is not UNSET:
        cleaned = _clean_name(name)
        if cleaned != department.name:
            department.name = cleaned
            department.name_key = department_name_key(cleaned)
            changes["name"] = cleaned
    if parent_id is not UNSET and parent_id != department.parent_id:
        if parent_id is not None:
            _lock_tree(session, org_id)
            _check_parent(session, org_id, department.id, parent_id)
        department.parent_id = parent_id
        changes["parent_id"] = str(parent_id) if parent_id else None
    if head_id is not UNSET and head_id != department.head_id:
        if head_id is not None:
            require_active_user(session, org_id, head_id, field="head_id")
        department.head_id = head_id
        changes["head_id"] = str(head_id) if head_id else None
    if external_id is not UNSET and external_id != department.external_id:
        if external_id is not None:
            refuse_control_characters(external_id, field="external_id")
        department.external_id = external_id
        changes["external_id"] = external_id
    if changes:
        session.flush()
        _audit(session, org_id, "department.updated", actor, {"department_id": str(department.id), **changes})
    return department


def delete_department(session: Session, department: Department, *, actor: User | None) -> None:
    """Delete a department: its sub-departments move up to its parent, its memberships end."""
    org_id = department.org_id
    _lock_tree(session, org_id)
    session.execute(
        update(Department)
        .where(Department.org_id == org_id, Department.parent_id == department.id)
        .values(parent_id=department.parent_id)
        .execution_options(synchronize_session=False)
    )
    member_ids = list(
        session.scalars(
            select(DepartmentMember.user_id).where(
                DepartmentMember.org_id == org_id, DepartmentMember.department_id == department.id
            )
        )
    )
    session.execute(
        delete(DepartmentMember)
        .where(DepartmentMember.org_id == org_id, DepartmentMember.department_id == department.id)
        .execution_options(synchronize_session=False)
    )
    _reassign_primary(session, org_id, department.id)
    details = {"department_id": str(department.id), "name": department.name, "members": len(member_ids)}
    session.delete(department)
    session.flush()
    _audit(session, org_id, "department.deleted", actor, details)


def _reassign_primary(session: Session, org_id: uuid.UUID, department_id: uuid.UUID) -> None:
    """Users whose primary department was this one get another of theirs, or none."""
    other = (
        select(DepartmentMember.department_id)
        .where(
            DepartmentMember.org_id == User.org_id,
            DepartmentMember.user_id == User.id,
            DepartmentMember.department_id != department_id,
            DepartmentMember.hidden_by.is_(None),
        )
        .order_by(DepartmentMember.department_id)
        .limit(1)
        .scalar_subquery()
    )
    session.execute(
        update(User)
        .where(User.org_id == org_id, User.primary_department_id == department_id)
        .values(primary_department_id=other)
        .execution_options(synchronize_session="fetch")
    )


def _touch(department: Department) -> None:
    """Its members changed: the department's ``updated_at`` moves (SCIM's ``meta.lastModified``)."""
    department.updated_at = clock.now()


def _lock_department(session: Session, department: Department) -> None:
    # Membership changes read the members, then insert: two at once (PostgreSQL) would both insert
    # the same person and one would hit the unique key. The department row serialises them.
    session.execute(
        select(Department.id)
        .where(Department.org_id == department.org_id, Department.id == department.id)
        .with_for_update()
    )


def _current_member_ids(session: Session, department: Department) -> set[uuid.UUID]:
    return set(
        session.scalars(
            select(DepartmentMember.user_id).where(
                DepartmentMember.org_id == department.org_id,
                DepartmentMember.department_id == department.id,
                DepartmentMember.hidden_by.is_(None),
            )
        )
    )


def _require_active(
    session: Session, org_id: uuid.UUID, user_ids: Iterable[uuid.UUID], *, include_inactive: bool = False
) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    found = {
        row.id: row
        for row in session.execute(
            select(User.id, User.status, User.is_system, User.display_name).where(
                User.org_id == org_id, User.id.in_(wanted)
            )
        )
    }
    for user_id in wanted:
        row = found.get(user_id)
        if row is None:
            raise errors.UnknownUser(
                "No such user in this organization.", field="user_ids", user_id=str(user_id)
            )
        if row.is_system or (row.status != "active" and not (include_inactive and row.status == "dismissed")):
            raise errors.InactiveUser(
                f"{row.display_name} is not an active user.", field="user_ids", user_id=str(user_id)
            )
    return wanted


def add_department_members(
    session: Session,
    department: Department,
    user_ids: Sequence[uuid.UUID],
    *,
    actor: User | None,
    include_inactive: bool = False,
) -> list[uuid.UUID]:
    """Add active users to the department (members already in it stay); returns those added.

    ``include_inactive`` also admits dismissed people: an identity provider (SCIM) is the source of
    truth for the memberships of people it has disabled."""
    _lock_department(session, department)
    org_id = department.org_id
    wanted = _require_active(session, org_id, user_ids, include_inactive=include_inactive)
    current = _current_member_ids(session, department)
    added = [u for u in wanted if u not in current]
    if not added:
        return []
    session.execute(
        insert(DepartmentMember),
        [{"org_id": org_id, "id": new_id(), "department_id": department.id, "user_id": u} for u in added],
    )
    _touch(department)
    # A first department becomes the person's primary one.
    session.execute(
        update(User)
        .where(User.org_id == org_id, User.id.in_(added), User.primary_department_id.is_(None))
        .values(primary_department_id=department.id)
        .execution_options(synchronize_session="fetch")
    )
    _audit(
        session,
        org_id,
        "department.members_added",
        actor,
        {"department_id": str(department.id), "user_ids": [str(u) for u in added]},
    )
    return added


def remove_department_members(
    session: Session, department: Department, user_ids: Sequence[uuid.UUID], *, actor: User | None
) -> list[uuid.UUID]:
    """End memberships (unknown ids are ignored); returns the users removed."""
    _lock_department(session, department)
    org_id = department.org_id
    current = _current_member_ids(session, department)
    removed = [u for u in dict.fromkeys(user_ids) if u in current]
    if not removed:
        return []
    session.execute(
        delete(DepartmentMember)
        .where(
            DepartmentMember.org_id == org_id,
            DepartmentMember.department_id == department.id,
            DepartmentMember.user_id.in_(removed),
            DepartmentMember.hidden_by.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    _touch(department)
    other = (
        select(DepartmentMember.department_id)
        .where(
            DepartmentMember.org_id == User.org_id,
            DepartmentMember.user_id == User.id,
            DepartmentMember.hidden_by.is_(None),
        )
        .order_by(DepartmentMember.department_id)
        .limit(1)
        .scalar_subquery()
    )
    session.execute(
        update(User)
        .where(User.org_id == org_id, User.id.in_(removed), User.primary_department_id == department.id)
        .values(primary_department_id=other)
        .execution_options(synchronize_session="fetch")
    )
    _audit(
        session,
        org_id,
        "department.members_removed",
        actor,
        {"department_id": str(department.id), "user_ids": [str(u) for u in removed]},
    )
    return removed


def set_department_members(
    session: Session,
    department: Department,
    user_ids: Sequence[uuid.UUID],
    *,
    actor: User | None,
    include_inactive: bool = False,
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Make the members exactly ``user_ids``; newcomers must be active. Returns (added, removed)."""
    _lock_department(session, department)
    current = _current_member_ids(session, department)
    wanted = list(dict.fromkeys(user_ids))
    # People already in the department may stay whatever their status (an identity provider
    # replaying the full list must not fail on a dismissed member); newcomers must be active.
    _require_active(
        session, department.org_id, [u for u in wanted if u not in current], include_inactive=include_inactive
    )
    removed = remove_department_members(
        session, department, [u for u in current if u not in set(wanted)], actor=actor
    )
    added = add_department_members(
        session,
        department,
        [u for u in wanted if u not in current],
        actor=actor,
        include_inactive=include_inactive,
    )
    return added, removed


def list_department_members(
    session: Session,
    department: Department,
    *,
    include_inactive: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[User], int]:
    """The department's members by name; only active people unless ``include_inactive``. The
    System User, which keeps a deleted member's place until restore or purge, is never listed."""
    where = [
        User.org_id == department.org_id,
        User.is_system.is_(False),
        # The members, found by the department's key (a correlated EXISTS made SQLite read every
        # person of the organization and probe the department for each).
        User.id.in_(
            select(DepartmentMember.user_id).where(
                DepartmentMember.org_id == department.org_id,
                DepartmentMember.department_id == department.id,
                DepartmentMember.hidden_by.is_(None),
            )
        ),
    ]
    if not include_inactive:
        where.append(User.status == "active")
    total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    users = session.scalars(
        select(User)
        .where(*where)
        .order_by(User.display_name_key, User.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(users), int(total)


def count_department_members(
    session: Session, org_id: uuid.UUID, department_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many members each department has, by their status (``active``, ``dismissed``; deleted
    people's memberships are hidden with them), in one query."""
    wanted = set(department_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(DepartmentMember.department_id, User.status, func.count())
        .join(User, (User.org_id == DepartmentMember.org_id) & (User.id == DepartmentMember.user_id))
        .where(
            DepartmentMember.org_id == org_id,
            DepartmentMember.department_id.in_(wanted),
            DepartmentMember.hidden_by.is_(None),
            User.is_system.is_(False),
        )
        .group_by(DepartmentMember.department_id, User.status)
    )
    counts: dict[uuid.UUID, dict[str, int]] = {d: {} for d in wanted}
    for department_id, user_status, count in rows:
        counts[department_id][user_status] = int(count)
    return counts


def list_user_department_ids(session: Session, user: User) -> list[uuid.UUID]:
    """The departments a person belongs to, primary first."""
    ids = list(
        session.scalars(
            select(DepartmentMember.department_id)
            .where(
                DepartmentMember.org_id == user.org_id,
                DepartmentMember.user_id == user.id,
                DepartmentMember.hidden_by.is_(None),
            )
            .order_by(DepartmentMember.department_id)
        )
    )
    if user.primary_department_id in ids:
        ids.remove(user.primary_department_id)
        ids.insert(0, user.primary_department_id)
    return ids


def set_primary_department(
    session: Session, user: User, department_id: uuid.UUID | None, *, actor: User | None
) -> None:
    """Make a department the person's primary one (joining it if needed); ``None`` clears it."""
    if department_id is None:
        user.primary_department_id = None
        return
    department = get_department(session, user.org_id, department_id)
    if user.id not in _current_member_ids(session, department):
        add_department_members(session, department, [user.id], actor=actor)
    user.primary_department_id = department.id
