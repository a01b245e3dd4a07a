"""Moving work to the trash, listing it, restoring it and purging it.

Each action is one function, run in the caller's transaction, with one audit event: ``<kind>.deleted``,
``<kind>.restored``, ``<kind>.purged``. See ``roster.trash.models`` for how the rows are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, exists, func, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import Organization, User
from roster.domain import errors
from roster.lifecycle.audit import record_event
from roster.lifecycle.deletion import destroy_rows, unchanged_values
from roster.trash.models import TrashItem
from roster.trash.registry import TrashKind, all_kinds, get_kind


@dataclass(frozen=True)
class TrashEntry:
    """An item in the trash, as listed: what it is, whose it was, who deleted it and until when
    it can be restored."""

    item: TrashItem
    kind: TrashKind
    title: str
    owner: User | None
    actor: User | None


def _kind(name: str) -> TrashKind:
    kind = get_kind(name)
    if kind is None:
        raise errors.ValidationFailed(
            f"Unknown kind; choose one of {', '.join(k.name for k in all_kinds())}.", field="kind"
        )
    return kind


def _parts(
    kind: TrashKind, org_id: uuid.UUID, object_id: uuid.UUID
) -> list[tuple[Table, list[ColumnElement[bool]]]]:
    return [(part.table, list(part.rows(org_id, object_id))) for part in kind.parts]


def _owner(session: Session, kind: TrashKind, org_id: uuid.UUID, object_id: uuid.UUID) -> User | None:
    owner_id = session.scalar(
        select(kind.table.c[kind.owner_column]).where(
            kind.table.c.org_id == org_id, kind.table.c.id == object_id
        )
    )
    return None if owner_id is None else session.get(User, (org_id, owner_id))


def move_to_trash(
    session: Session, kind_name: str, *, org_id: uuid.UUID, object_id: uuid.UUID, actor: User
) -> TrashItem:
    """Hide an object and its dependents under a new trash item, restorable for the
    organization's restore window. The caller has checked that ``actor`` may delete it."""
    kind = _kind(kind_name)
    org = session.get(Organization, org_id)
    if org is None:
        raise errors.NotFound("No such organization.")
    now = clock.now()
    item = TrashItem(
        org_id=org_id,
        kind=kind.name,
        object_id=object_id,
        actor_id=actor.id,
        created_at=now,
        restorable_until=now + timedelta(days=org.restore_window_days),
    )
    session.add(item)
    session.flush()
    for n, (table, where) in enumerate(_parts(kind, org_id, object_id)):
        hide = table.c.hidden_by
        hidden = session.execute(
            update(table).where(*where, hide.is_(None)).values(unchanged_values(table, {hide.name: item.id}))
        )
        if n == 0 and not getattr(hidden, "rowcount", 0):
            # Deleted a moment ago by a concurrent request (the caller's transaction rolls back).
            raise errors.NotFound(f"No such {kind.label.lower()}: it is deleted already.")
    record_event(
        session,
        org_id=org_id,
        action=f"{kind.name}.deleted",
        actor=actor,
        subject=_owner(session, kind, org_id, object_id),
        details={"kind": kind.name, "object_id": str(object_id), "trash_id": str(item.id)},
    )
    return item


def _visible(actor: User) -> list[ColumnElement[bool]]:
    """What of the trash ``actor`` sees: an admin all of it, anyone else what they deleted."""
    clauses = [
        TrashItem.org_id == actor.org_id,
        TrashItem.restored_at.is_(None),
        TrashItem.purged_at.is_(None),
    ]
    if not actor.is_admin:
        clauses.append(TrashItem.actor_id == actor.id)
    return clauses


def list_trash(
    session: Session, actor: User, *, kind: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[TrashEntry], int]:
    """The trash ``actor`` sees, most recently deleted first, and its total."""
    clauses = _visible(actor)
    if kind:
        clauses.append(TrashItem.kind == _kind(kind).name)
    total = int(session.scalar(select(func.count()).select_from(TrashItem).where(*clauses)) or 0)
    items = list(
        session.scalars(
            select(TrashItem)
            .where(*clauses)
            .order_by(TrashItem.created_at.desc(), TrashItem.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return _entries(session, actor.org_id, items), total


def _entries(session: Session, org_id: uuid.UUID, items: Sequence[TrashItem]) -> list[TrashEntry]:
    by_kind: dict[str, list[uuid.UUID]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item.object_id)
    titles: dict[tuple[str, uuid.UUID], str] = {}
    owners: dict[tuple[str, uuid.UUID], uuid.UUID] = {}
    for name, ids in by_kind.items():
        kind = get_kind(name)
        if kind is None:
            continue
        for object_id, text in kind.describe(session, org_id, ids).items():
            titles[(name, object_id)] = text
        owner = kind.table.c[kind.owner_column]
        for object_id, owner_id in session.execute(
            select(kind.table.c.id, owner).where(kind.table.c.org_id == org_id, kind.table.c.id.in_(ids))
        ):
            owners[(name, object_id)] = owner_id
    user_ids = set(owners.values()) | {item.actor_id for item in items}
    users = {
        u.id: u for u in session.scalars(select(User).where(User.org_id == org_id, User.id.in_(user_ids)))
    }
    entries = []
    for item in items:
        kind = get_kind(item.kind)
        if kind is None:
            continue
        key = (item.kind, item.object_id)
        owner_id = owners.get(key)
        entries.append(
            TrashEntry(
                item=item,
                kind=kind,
                title=titles.get(key, ""),
                owner=users.get(owner_id) if owner_id is not None else None,
                actor=users.get(item.actor_id),
            )
        )
    return entries


def get_trash_item(
    session: Session, actor: User, item_id: uuid.UUID, *, for_update: bool = False
) -> TrashItem:
    """An item in the trash that ``actor`` sees, or NotFound."""
    query = select(TrashItem).where(*_visible(actor), TrashItem.id == item_id)
    if for_update:
        query = query.with_for_update()
    item = session.scalar(query)
    if item is None:
        raise errors.NotFound("No such item in the trash.")
    return item


def find_in_trash(session: Session, actor: User, kind: str, object_id: uuid.UUID) -> TrashItem | None:
    """The trash item holding an object now, if ``actor`` sees it (a delete sent twice finds it)."""
    return session.scalar(
        select(TrashItem)
        .where(*_visible(actor), TrashItem.kind == kind, TrashItem.object_id == object_id)
        .order_by(TrashItem.created_at.desc())
        .limit(1)
    )


def is_restored(session: Session, actor: User, item_id: uuid.UUID) -> bool:
    """Whether an item ``actor`` deleted (or, for an admin, anyone did) was restored already."""
    clauses = [TrashItem.org_id == actor.org_id, TrashItem.id == item_id, TrashItem.restored_at.is_not(None)]
    if not actor.is_admin:
        clauses.append(TrashItem.actor_id == actor.id)
    return session.scalar(select(TrashItem.id).where(*clauses)) is not None


def trash_entry(session: Session, item: TrashItem) -> TrashEntry:
    found = _entries(session, item.org_id, [item])
    if not found:
        raise errors.NotFound("No such item in the trash.")
    return found[0]


def restore_from_trash(session: Session, item: TrashItem, *, actor: User) -> TrashItem:
    """Bring an object and its dependents back, as they were, before the window ends."""
    kind = _kind(item.kind)
    now = clock.now()
    if item.restorable_until <= now:
        raise errors.RestoreWindowPassed(
            "Its restore window has passed; it will be removed for good.",
            restorable_until=item.restorable_until.isoformat(),
        )
    table = kind.table
    present = session.scalar(
        select(table.c.id).where(
            table.c.org_id == item.org_id, table.c.id == item.object_id, table.c.hidden_by == item.id
        )
    )
    if present is None:
        # Its parent was purged before it (a comment of a post deleted for good).
        raise errors.Gone("It no longer exists: what it belonged to was removed for good.")
    reason = kind.blocked(session, item.org_id, item.object_id)
    if reason is not None:
        raise errors.RestoreBlocked(reason)
    for part_table, where in _parts(kind, item.org_id, item.object_id):
        hide = part_table.c.hidden_by
        session.execute(
            update(part_table)
            .where(*where, hide == item.id)
            .values(unchanged_values(part_table, {hide.name: None}))
        )
    item.restored_at = now
    record_event(
        session,
        org_id=item.org_id,
        action=f"{kind.name}.restored",
        actor=actor,
        subject=_owner(session, kind, item.org_id, item.object_id),
        details={"kind": kind.name, "object_id": str(item.object_id), "trash_id": str(item.id)},
    )
    session.flush()
    session.expire_all()
    return item


def purge_item(session: Session, item: TrashItem, *, actor: User | None, now: datetime | None = None) -> int:
    """Destroy an item's hidden rows for good (its window ended, or an admin emptied it early);
    returns how many rows went. A file's content goes with the drive's sweep, once no row names it."""
    kind = get_kind(item.kind)
    destroyed = 0
    owner = None
    if kind is not None:
        owner = _owner(session, kind, item.org_id, item.object_id)
        for table, where in reversed(_parts(kind, item.org_id, item.object_id)):
            destroyed += destroy_rows(session, table, [*where, table.c.hidden_by == item.id], item.org_id)
    item.purged_at = now or clock.now()
    record_event(
        session,
        org_id=item.org_id,
        action=f"{item.kind}.purged",
        actor=actor,
        subject=owner,
        details={
            "kind": item.kind,
            "object_id": str(item.object_id),
            "trash_id": str(item.id),
            "destroyed": destroyed,
            "by": "admin" if actor is not None else "purge",
        },
    )
    _close_orphans(session, item, actor=actor)
    return destroyed


def _close_orphans(session: Session, purged: TrashItem, *, actor: User | None) -> None:
    """Close the items whose object went with ``purged``'s (a comment deleted on its own before
    its post was emptied from the trash): they could never be restored."""
    session.flush()
    for kind in all_kinds():
        table = kind.table
        gone = ~exists().where(table.c.org_id == TrashItem.org_id, table.c.id == TrashItem.object_id)
        orphans = session.scalars(
            select(TrashItem).where(
                TrashItem.org_id == purged.org_id,
                TrashItem.kind == kind.name,
                TrashItem.restored_at.is_(None),
                TrashItem.purged_at.is_(None),
                gone,
            )
        ).all()
        for orphan in orphans:
            orphan.purged_at = purged.purged_at
            record_event(
                session,
                org_id=orphan.org_id,
                action=f"{orphan.kind}.purged",
                actor=actor,
                details={
                    "kind": orphan.kind,
                    "object_id": str(orphan.object_id),
                    "trash_id": str(orphan.id),
                    "by": "parent",
                    "with": str(purged.object_id),
                },
            )


def purge_expired_trash(session: Session, *, now: datetime | None = None, limit: int | None = None) -> int:
    """Purge every item whose restore window has passed; returns how many."""
    now = now or clock.now()
    query = (
        select(TrashItem)
        .where(
            TrashItem.purged_at.is_(None), TrashItem.restored_at.is_(None), TrashItem.restorable_until <= now
        )
        .order_by(TrashItem.restorable_until, TrashItem.id)
    )
    if limit is not None:
        query = query.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several processes purge at once
    items = list(session.scalars(query))
    for item in items:
        purge_item(session, item, actor=None, now=now)
    if items:
        session.flush()
        session.expire_all()
    return len(items)
