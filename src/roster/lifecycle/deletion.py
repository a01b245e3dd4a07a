"""Delete with reassignment, restore, purge, erase, merge and transfer.

Everything here reads the reference registry (roster.references) and never names a module's
table: a module that registers its user columns is deleted, restored, merged and erased with the
rest. References move with set-based SQL, one ``INSERT ... SELECT`` into the authorship map and
one ``UPDATE`` per registered column, so deleting a person who owns a million rows costs what the
raw SQL costs. Every action is one function, one transaction (the caller's) and one audit event;
a refused action raises before it writes anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Delete,
    Result,
    String,
    Table,
    Uuid,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.accounts.schemas import FORMER_EMPLOYEE
from roster.db.base import Base, UTCDateTime
from roster.domain import errors
from roster.domain.text import has_control_characters
from roster.domain.users import Role, UserStatus
from roster.lifecycle.audit import earlier_addresses, record_event, redact_user, replace_names
from roster.lifecycle.deletion_models import Authorship, LifecycleOperation, OperationKind
from roster.lifecycle.seats import release_seat
from roster.references import (
    Disposition,
    Handling,
    UserReference,
    all_references,
    content_references,
    get_reference,
)

RESTORABLE_KINDS = (OperationKind.DELETE.value, OperationKind.MERGE.value)
PSEUDONYM_PREFIX = "Former employee"
AUTHORSHIP: Table = Authorship.__table__  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class DispositionPlan:
    """What a deletion does with each kind of reference (API.md: ``disposition``)."""

    default: Disposition = Disposition.SYSTEM_USER
    successor_id: uuid.UUID | None = None
    kinds: Mapping[str, Disposition] = field(default_factory=dict)


@dataclass(frozen=True)
class PreviewItem:
    kind: str
    label: str
    count: int  # visible rows
    dispositions: list[str]
    in_trash: int = 0  # rows in the trash (deletion moves them too; they stay in the trash)
    # Of ``count``, the rows that are work still open (tasks not done, leads not won or lost);
    # None for kinds that are not work with an end.
    open: int | None = None


@dataclass(frozen=True)
class DeletionPreview:
    user: User
    references: list[PreviewItem]
    total: int  # visible rows, as before; what is in the trash is counted apart
    total_in_trash: int = 0


@dataclass(frozen=True)
class DeletionResult:
    user: User
    operation_id: uuid.UUID
    moved: dict[str, int]
    deleted: dict[str, int]


@dataclass(frozen=True)
class TransferResult:
    moved: dict[str, int]  # references handed over, per kind
    kept_closed: dict[str, int]  # closed work (done tasks, won or lost leads) left where it was
    # Associations the recipient has already (they observe the task too), left with their holder.
    kept_duplicate: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreResult:
    user: User
    operation_id: uuid.UUID
    restored: dict[str, int]  # references returned, per kind
    left: dict[str, int]  # references changed after the deletion, left as they are now
    unhidden: int  # rows the deletion had hidden, shown again


@dataclass(frozen=True)
class ErasureResult:
    user: User
    operation_id: uuid.UUID
    pseudonym: str
    moved: dict[str, int]
    deleted: dict[str, int]
    destroyed: int  # hidden rows destroyed now


@dataclass(frozen=True)
class MergeResult:
    user: User  # the duplicate, now deleted (restorable)
    into: User
    operation_id: uuid.UUID
    moved: dict[str, int]
    deleted: dict[str, int]  # association rows hidden because `into` already had them


@dataclass(frozen=True)
class AuthorshipEntry:
    operation_id: uuid.UUID
    kind: str
    object_id: uuid.UUID
    original_user: User
    original_display_name: str
    moved_to: User
    moved_at: datetime
    restored_at: datetime | None


# --------------------------------------------------------------------------------------------
# Reading the registry: tables, object ids, hide columns


def _table(ref: UserReference) -> Table:
    return Base.metadata.tables[ref.table]


def object_column(ref: UserReference, table: Table) -> Column[Any]:
    """What identifies a row in the map: its id, or for a table without one, its unique_with column."""
    if "id" in table.c:
        return table.c["id"]
    if len(ref.unique_with) == 1:
        return table.c[ref.unique_with[0]]
    raise RuntimeError(f"{ref.kind}: {ref.table} needs an id column or exactly one unique_with column")


def _hide_column(ref: UserReference, table: Table) -> Column[Any] | None:
    if ref.hide_column:
        return table.c[ref.hide_column]
    if "hidden_by" in table.c:
        return table.c["hidden_by"]
    return None


def _still_open(ref: UserReference, table: Table) -> ColumnElement[bool] | None:
    """The registry's ``open_when`` as SQL on the reference's table, or None where the kind is not
    work with an end."""
    rule = ref.open_when
    if rule is None:
        return None
    if rule.parent is None or rule.parent_key is None:
        return table.c[rule.column].not_in(rule.closed)
    parent = Base.metadata.tables[rule.parent]
    return exists().where(
        parent.c.org_id == table.c.org_id,
        parent.c.id == table.c[rule.parent_key],
        parent.c[rule.column].not_in(rule.closed),
    )


def _originally(
    ref: UserReference, table: Table, *, originally_by: uuid.UUID, holder_id: uuid.UUID
) -> ColumnElement[bool]:
    """The rows of ``ref`` that the map says ``holder_id`` holds because they were originally
    ``originally_by``'s (and not yet given back)."""
    return exists().where(
        *_held_through_map(ref, table, holder_id), AUTHORSHIP.c.original_user_id == originally_by
    )


def _held_through_map(ref: UserReference, table: Table, holder_id: uuid.UUID) -> list[ColumnElement[bool]]:
    """The map's rows saying that a row of ``ref`` went to ``holder_id`` (and was not given back),
    joined to the row on its object."""
    amap = AUTHORSHIP
    return [
        amap.c.org_id == table.c.org_id,
        amap.c.kind == ref.kind,
        amap.c.object_id == object_column(ref, table),
        amap.c.moved_to_id == holder_id,
        amap.c.restored_at.is_(None),
    ]


def _hidden_by(op: LifecycleOperation) -> list[tuple[Table, Column[Any], list[ColumnElement[bool]]]]:
    """Where the rows an operation hid are: per kind it hid, the user's rows carrying its id.

    A hidden row keeps pointing at the operation's user (nothing moves hidden rows of a deleted
    person), so each lookup goes through the reference column's index instead of scanning tables
    for ``hidden_by``.
    """
    found = []
    for kind in sorted((op.dispositions or {}).get("deleted", {})):
        ref = get_reference(kind)
        if ref is None:
            continue
        table = _table(ref)
        hide = _hide_column(ref, table)
        if hide is not None:
            where = [table.c.org_id == op.org_id, table.c[ref.column] == op.user_id, hide == op.id]
            found.append((table, hide, where))
    return found


def unchanged_values(table: Table, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes``, plus every column with an ON UPDATE default set to itself: moving a reference
    is not an edit (no "updated" bump), and restore must give back the rows exactly as they were."""
    values: dict[str, Any] = {c.name: c for c in table.c if c.onupdate is not None and c.name not in changes}
    values.update(changes)
    return values


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _clash(ref: UserReference, table: Table, target: ColumnElement[Any] | uuid.UUID) -> ColumnElement[bool]:
    """The row's association already exists for ``target`` (moving it would duplicate it)."""
    other = table.alias(f"{table.name}_other")
    return exists().where(
        other.c.org_id == table.c.org_id,
        other.c[ref.column] == target,
        *[other.c[col] == table.c[col] for col in ref.unique_with],
    )


# --------------------------------------------------------------------------------------------
# Set-based moves


@dataclass
class _Counts:
    moved: dict[str, int] = field(default_factory=dict)
    hidden: dict[str, int] = field(default_factory=dict)

    def add(self, bucket: dict[str, int], kind: str, n: int) -> None:
        if n:
            bucket[kind] = bucket.get(kind, 0) + n


def _hide_rows(
    session: Session, ref: UserReference, *, org_id: uuid.UUID, user_id: uuid.UUID, op_id: uuid.UUID
) -> int:
    """The ``delete`` disposition: hide the user's visible rows of this kind under the operation."""
    table = _table(ref)
    hide = _hide_column(ref, table)
    if hide is None:
        raise errors.DispositionNotAllowed(f"{ref.kind} cannot be deleted.", kind=ref.kind)
    result = session.execute(
        update(table)
        .where(table.c.org_id == org_id, table.c[ref.column] == user_id, hide.is_(None))
        .values(unchanged_values(table, {hide.name: op_id}))
    )
    return _rowcount(result)


def _move_rows(
    session: Session,
    ref: UserReference,
    *,
    org_id: uuid.UUID,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    op_id: uuid.UUID,
    original_name: str,
    now: datetime,
    originally_by: uuid.UUID | None = None,
    include_hidden: bool = True,
    hide_clashes: bool = True,
    only: ColumnElement[bool] | None = None,
) -> tuple[int, int]:
    """Move one kind of reference from one user to another, recording each row in the map.

    Returns (moved, hidden): association rows whose target already exists are hidden under the
    operation instead of moved, so no duplicate appears and restore can bring them back.
    """
    table = _table(ref)
    col = table.c[ref.column]
    obj = object_column(ref, table)
    hide = _hide_column(ref, table)
    where: list[ColumnElement[bool]] = [table.c.org_id == org_id, col == from_id]
    if only is not None:
        where.append(only)
    if originally_by is not None:
        where.append(_originally(ref, table, originally_by=originally_by, holder_id=from_id))
    hidden = 0
    clash = _clash(ref, table, to_id) if ref.unique_with else None
    if clash is not None and hide is not None and hide_clashes:
        hidden = _rowcount(
            session.execute(
                update(table)
                .where(*where, hide.is_(None), clash)
                .values(unchanged_values(table, {hide.name: op_id}))
            )
        )
        # Visible clashes are hidden now; only rows hidden by another operation need the check.
        if include_hidden:
            where.append(or_(hide.is_(None), and_(hide != op_id, ~clash)))
        else:
            where.append(hide.is_(None))
    else:
        if clash is not None:
            where.append(~clash)  # clashing rows stay where they are
        if hide is not None and include_hidden:
            # Rows hidden by another operation still move: if that operation is restored they
            # must not come back pointing at a deleted person. Rows this operation hid stay.
            where.append(or_(hide.is_(None), hide != op_id))
        elif hide is not None:
            where.append(hide.is_(None))
    amap = AUTHORSHIP
    session.execute(
        insert(amap).from_select(
            [
                "org_id",
                "operation_id",
                "kind",
                "object_id",
                "original_user_id",
                "original_display_name",
                "moved_to_id",
                "moved_at",
            ],
            select(
                table.c.org_id,
                literal(op_id, Uuid()),
                literal(ref.kind, String()),
                obj,
                literal(from_id, Uuid()),
                literal(original_name[:200], String()),
                literal(to_id, Uuid()),
                literal(now, UTCDateTime()),
            ).where(*where),
        )
    )
    moved = _rowcount(
        session.execute(update(table).where(*where).values(unchanged_values(table, {col.name: to_id})))
    )
    return moved, hidden


def _delete_credentials(session: Session, *, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Sessions, tokens and reset links die with the account (and are never restored)."""
    for ref in all_references():
        if ref.handling is Handling.CREDENTIAL:
            table = _table(ref)
            session.execute(delete(table).where(table.c.org_id == org_id, table.c[ref.column] == user_id))


def _dispose(
    session: Session,
    user: User,
    *,
    op: LifecycleOperation,
    plan: Mapping[str, Disposition],
    system_user: User,
    successor: User | None,
    now: datetime,
) -> _Counts:
    """Apply a resolved plan to every content reference of the user."""
    counts = _Counts()
    refs = content_references()
    # Hide first, so a row hidden for one kind (a task deleted with its responsible) is not also
    # moved for another kind of the same table (its creator) by this operation.
    hid_in: set[str] = set()  # the tables this operation hid rows of
    for ref in refs:
        if plan.get(ref.kind) is Disposition.DELETE:
            n = _hide_rows(session, ref, org_id=user.org_id, user_id=user.id, op_id=op.id)
            counts.add(counts.hidden, ref.kind, n)
            hid_in.add(ref.table)
    for ref in refs:
        disposition = plan.get(ref.kind)
        if disposition is None:
            continue
        if disposition is not Disposition.DELETE and ref.table in hid_in:
            # Rows of this kind that went with another kind's deletion (the tasks they created,
            # deleted with those they were responsible for) are counted as deleted for this kind
            # too, as the preview counted them under both.
            table = _table(ref)
            hide = _hide_column(ref, table)
            if hide is not None:
                went = session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.org_id == user.org_id, table.c[ref.column] == user.id, hide == op.id)
                )
                counts.add(counts.hidden, ref.kind, int(went or 0))
        # For ``delete``, what is left are rows another deletion hid (a task hidden with its
        # responsible): they go to the System User, so that if that deletion is restored they do
        # not come back pointing at this deleted person.
        target = successor if disposition is Disposition.SUCCESSOR else system_user
        assert target is not None
        moved, hidden = _move_rows(
            session,
            ref,
            org_id=user.org_id,
            from_id=user.id,
            to_id=target.id,
            op_id=op.id,
            original_name=user.display_name,
            now=now,
        )
        counts.add(counts.moved, ref.kind, moved)
        counts.add(counts.hidden, ref.kind, hidden)
    return counts


# --------------------------------------------------------------------------------------------
# Guards


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock_user(session: Session, user: User) -> User:
    locked = session.scalars(
        select(User)
        .where(User.org_id == user.org_id, User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if locked is None:
        raise errors.NotFound("No such user.")
    return locked


_PAST = {"delete": "deleted", "erase": "erased", "merge": "merged"}


def _check_removable(session: Session, user: User, *, actor: User | None, verb: str = "delete") -> None:
    """Refusals shared by delete, erase and merge (``verb`` names the action in them)."""
    if user.is_system:
        raise errors.SystemUserImmutable(f"The System User cannot be {_PAST[verb]}.")
    if actor is not None and actor.org_id == user.org_id and actor.id == user.id:
        raise errors.CannotActOnSelf(f"You cannot {verb} your own account; ask another administrator.")
    if user.role == Role.ADMIN.value and user.status == UserStatus.ACTIVE.value:
        other_admin = session.scalar(
            select(User.id)
            .where(
                User.org_id == user.org_id,
                User.id != user.id,
                User.role == Role.ADMIN.value,
                User.status == UserStatus.ACTIVE.value,
                User.is_system.is_(False),
            )
            .limit(1)
        )
        if other_admin is None:
            raise errors.LastAdmin(
                f"{user.display_name} is the only active administrator; make someone else an "
                "administrator first."
            )


def _check_confirmation(user: User, confirm: str | None) -> None:
    expected = user.email if user.email else str(user.id)
    if not confirm or confirm.strip().casefold() != expected.strip().casefold():
        raise errors.ConfirmationMismatch(
            f"To confirm, type the user's email address ({expected}) in `confirm`.", field="confirm"
        )


def _active_other_user(
    session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, not_id: uuid.UUID, field_name: str
) -> User:
    """A successor, merge target or transfer recipient: another active user of the organization."""
    if user_id == not_id:
        raise errors.InvalidSuccessor("References cannot be handed to the same person.", field=field_name)
    target = session.get(User, (org_id, user_id))
    if target is None:
        raise errors.UnknownUser("No such user in this organization.", field=field_name, user_id=str(user_id))
    if not target.is_active:
        raise errors.InactiveUser(
            f"{target.display_name} is not an active user.", user_id=str(target.id), field=field_name
        )
    return target


def check_recipient(session: Session, user: User, recipient_id: uuid.UUID, *, field_name: str) -> User:
    """The person who would take over ``user``'s references (a successor, merge target or transfer
    recipient), checked before the action itself: another active user of the organization, or
    InvalidSuccessor, UnknownUser or InactiveUser naming ``field_name``."""
    return _active_other_user(session, user.org_id, recipient_id, not_id=user.id, field_name=field_name)


def _resolve_plan(
    session: Session, user: User, plan: DispositionPlan
) -> tuple[dict[str, Disposition], User | None]:
    """The disposition of every content kind, and the successor if any kind goes to one.

    An explicit per-kind choice that the kind does not allow is refused; the default falls back to
    the kind's own default where the kind does not allow it (a mention cannot go to a successor).
    """
    refs = {ref.kind: ref for ref in content_references()}
    for kind in plan.kinds:
        if kind not in refs:
            raise errors.DispositionNotAllowed(f"Unknown kind of reference {kind!r}.", kind=kind)
    resolved: dict[str, Disposition] = {}
    for kind, ref in refs.items():
        chosen = plan.kinds.get(kind)
        if chosen is not None:
            chosen = Disposition(chosen)
            if chosen not in ref.dispositions:
                raise errors.DispositionNotAllowed(
                    f"{ref.label} ({kind}) cannot be handled with {chosen.value!r}; allowed: "
                    f"{', '.join(d.value for d in ref.dispositions)}.",
                    kind=kind,
                    disposition=chosen.value,
                    allowed=[d.value for d in ref.dispositions],
                )
        else:
            chosen = plan.default if plan.default in ref.dispositions else ref.default_disposition
        resolved[kind] = chosen
    successor = None
    if Disposition.SUCCESSOR in resolved.values() or plan.successor_id is not None:
        if plan.successor_id is None:
            raise errors.InvalidSuccessor(
                "Name the successor (`successor_id`).", field="disposition.successor_id"
            )
        successor = _active_other_user(
            session, user.org_id, plan.successor_id, not_id=user.id, field_name="disposition.successor_id"
        )
    return resolved, successor


def _mark_deleted(session: Session, user: User, *, org: Organization, now: datetime) -> None:
    """The tombstone: status deleted, email freed at once, credentials gone, seat released."""
    held_seat = user.status == UserStatus.ACTIVE.value
    user.status = UserStatus.DELETED.value
    user.deleted_at = now
    user.restorable_until = now + timedelta(days=org.restore_window_days)
    user.email_key = None
    _delete_credentials(session, org_id=user.org_id, user_id=user.id)
    accounts.revoke_all_tokens(session, user)
    if held_seat:
        release_seat(session, user.org_id)


def _new_operation(
    session: Session,
    *,
    kind: OperationKind,
    user: User,
    actor: User | None,
    successor: User | None,
    now: datetime,
    restorable_until: datetime | None,
    dispositions: dict[str, Any],
) -> LifecycleOperation:
    op = LifecycleOperation(
        org_id=user.org_id,
        kind=kind.value,
        user_id=user.id,
        actor_id=actor.id if actor is not None else None,
        successor_id=successor.id if successor is not None else None,
        dispositions=dispositions,
        created_at=now,
        restorable_until=restorable_until,
    )
    session.add(op)
    session.flush()
    return op


def _finish(session: Session) -> None:
    """Core statements bypass the identity map: let loaded objects read the new state."""
    session.flush()
    session.expire_all()


# --------------------------------------------------------------------------------------------
# Preview


def preview_deletion(session: Session, user: User) -> DeletionPreview:
    """Per content kind: how many visible rows reference the user, how many more are in the trash,
    and what deletion may do; in one statement.

    ``count`` and ``total`` are the visible rows, as they always were. ``in_trash`` and
    ``total_in_trash`` are the rows hidden by an item still in the trash (``hidden_by`` naming a
    ``trash_items`` row neither restored nor purged): deletion moves those as well, and they stay in
    the trash. Rows hidden by a lifecycle operation (an earlier deletion or merge) are in neither.
    """
    items = reference_counts(session, user.org_id, [user.id])
    return DeletionPreview(
        user=user,
        references=items,
        total=sum(i.count for i in items),
        total_in_trash=sum(i.in_trash for i in items),
    )


def reference_counts(session: Session, org_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> list[PreviewItem]:
    """``preview_deletion``'s items for several people of one organization at once, each count
    summed over them (a row names one person per kind), in one statement: what a bulk deletion
    touches."""
    refs = content_references()
    trash = Base.metadata.tables["trash_items"]
    selects = []
    for ref in refs:
        table = _table(ref)
        hide = _hide_column(ref, table)
        column = table.c[ref.column]
        named = column == user_ids[0] if len(user_ids) == 1 else column.in_(user_ids)
        where = [table.c.org_id == org_id, named]
        kind = literal(ref.kind, String()).label("kind")
        still_open = _still_open(ref, table)
        if still_open is None:
            open_rows: ColumnElement[int] = literal(-1).label("open")
        elif hide is None:
            open_rows = func.count(case((still_open, 1))).label("open")
        else:
            open_rows = func.count(case((and_(hide.is_(None), still_open), 1))).label("open")
        if hide is None:
            query = select(
                kind, func.count().label("n"), literal(0).label("in_trash"), open_rows
            ).select_from(table)
        else:
            in_trash = and_(
                trash.c.org_id == table.c.org_id,
                trash.c.id == hide,
                trash.c.restored_at.is_(None),
                trash.c.purged_at.is_(None),
            )
            query = select(
                kind,
                func.count(case((hide.is_(None), 1))).label("n"),
                func.count(trash.c.id).label("in_trash"),
                open_rows,
            ).select_from(table.outerjoin(trash, in_trash))
        selects.append(query.where(*where))
    counts: dict[str, tuple[int, int, int | None]] = {}
    if selects:
        counts = {
            str(name): (int(n), int(trashed or 0), None if opened is None or opened < 0 else int(opened))
            for name, n, trashed, opened in session.execute(union_all(*selects)).all()
        }
    items = []
    for ref in refs:
        n, trashed, opened = counts.get(ref.kind, (0, 0, None))
        items.append(
            PreviewItem(
                kind=ref.kind,
                label=ref.label,
                count=n,
                dispositions=[d.value for d in ref.dispositions],
                in_trash=trashed,
                open=(opened or 0) if ref.open_when is not None else None,
            )
        )
    return items


# --------------------------------------------------------------------------------------------
# Delete


def delete_user(
    session: Session,
    user: User,
    *,
    actor: User | None,
    confirm: str | None,
    disposition: DispositionPlan | None = None,
) -> DeletionResult:
    """Delete a user: move or hide every content reference per the plan, record the moves in the
    authorship map, free the email and the seat; restorable until the organization's window ends."""
    org = accounts.lock_organization(session, user.org_id)
    user = _lock_user(session, user)
    _check_removable(session, user, actor=actor)
    if user.status == UserStatus.DELETED.value:
        raise errors.InvalidTransition(f"{user.display_name} is already deleted.")
    _check_confirmation(user, confirm)
    plan, successor = _resolve_plan(session, user, disposition or DispositionPlan())
    system_user = accounts.get_system_user(session, user.org_id)
    now = clock.now()
    restorable_until = now + timedelta(days=org.restore_window_days)
    op = _new_operation(
        session,
        kind=OperationKind.DELETE,
        user=user,
        actor=actor,
        successor=successor,
        now=now,
        restorable_until=restorable_until,
        dispositions={"kinds": {k: v.value for k, v in plan.items()}},
    )
    counts = _dispose(session, user, op=op, plan=plan, system_user=system_user, successor=successor, now=now)
    op.dispositions = {**op.dispositions, "moved": counts.moved, "deleted": counts.hidden}
    _mark_deleted(session, user, org=org, now=now)
    record_event(
        session,
        org_id=user.org_id,
        action="user.deleted",
        actor=actor,
        subject=user,
        details={
            "operation_id": str(op.id),
            "successor_id": str(successor.id) if successor else None,
            "moved": counts.moved,
            "deleted": counts.hidden,
            "restorable_until": restorable_until.isoformat(),
        },
    )
    _finish(session)
    return DeletionResult(user=user, operation_id=op.id, moved=counts.moved, deleted=counts.hidden)


# --------------------------------------------------------------------------------------------
# Restore


def get_operation(session: Session, org_id: uuid.UUID, operation_id: uuid.UUID) -> LifecycleOperation:
    """A delete, merge, transfer or erase of this organization, or NotFound (others' do not exist)."""
    op = session.get(LifecycleOperation, (org_id, operation_id))
    if op is None:
        raise errors.NotFound("No such operation.")
    return op


def can_restore_operation(op: LifecycleOperation, user: User, *, now: datetime | None = None) -> bool:
    """Whether ``restore_user`` would undo this operation now (its user is still deleted by it and
    its window is open); the email being taken is found out only by trying."""
    now = now or clock.now()
    return (
        op.kind in RESTORABLE_KINDS
        and op.user_id == user.id
        and user.status == UserStatus.DELETED.value
        and op.restored_at is None
        and op.purged_at is None
        and op.restorable_until is not None
        and op.restorable_until > now
        and bool(user.email)
    )


def _latest_restorable_operation(session: Session, user: User) -> LifecycleOperation | None:
    return session.scalars(
        select(LifecycleOperation)
        .where(
            LifecycleOperation.org_id == user.org_id,
            LifecycleOperation.user_id == user.id,
            LifecycleOperation.kind.in_(RESTORABLE_KINDS),
            LifecycleOperation.restored_at.is_(None),
        )
        .order_by(LifecycleOperation.created_at.desc(), LifecycleOperation.id.desc())
        .limit(1)
    ).first()


def _address_holder(session: Session, org_id: uuid.UUID, key: str) -> dict[str, str] | None:
    """Who now holds the address: an active or dismissed user (``user_id``) or a pending
    invitation (``invitation_id``); None when it is free."""
    holder = session.scalar(select(User.id).where(User.org_id == org_id, User.email_key == key).limit(1))
    if holder is not None:
        return {"user_id": str(holder)}
    invitations = Base.metadata.tables.get("invitations")
    if invitations is not None and "email_key" in invitations.c:
        conditions = [invitations.c.org_id == org_id, invitations.c.email_key == key]
        if "status" in invitations.c:
            conditions.append(invitations.c.status == "pending")
        pending = session.scalar(select(invitations.c.id).where(*conditions).limit(1))
        if pending is not None:
            return {"invitation_id": str(pending)}
    return None


def _in_the_trash(table: Table, hide: Column[Any]) -> ColumnElement[bool]:
    """The row is hidden by an item still in the trash (not by a lifecycle operation)."""
    trash = Base.metadata.tables["trash_items"]
    return exists().where(
        trash.c.org_id == table.c.org_id,
        trash.c.id == hide,
        trash.c.restored_at.is_(None),
        trash.c.purged_at.is_(None),
    )


def _return_rows(
    session: Session,
    ref: UserReference,
    *,
    op: LifecycleOperation,
    user_id: uuid.UUID,
    targets: Sequence[uuid.UUID],
    mapped: int,
    now: datetime,
) -> int:
    """Move back every reference of one kind that still points where the operation put it
    (``mapped``: how many map rows of this kind await restoring).

    Driven by the map: the operation's rows of this kind (its primary key) select the objects,
    which are then found by their own key, so the cost follows what was moved, not the table.
    """
    table = _table(ref)
    col = table.c[ref.column]
    obj = object_column(ref, table)
    amap = AUTHORSHIP
    of_this_kind = [
        amap.c.org_id == op.org_id,
        amap.c.operation_id == op.id,
        amap.c.kind == ref.kind,
        amap.c.restored_at.is_(None),
    ]
    returned = 0
    for moved_to in targets:  # one per operation and kind (a successor or the System User)
        where: list[ColumnElement[bool]] = [
            table.c.org_id == op.org_id,
            col == moved_to,
            obj.in_(select(amap.c.object_id).where(*of_this_kind, amap.c.moved_to_id == moved_to)),
        ]
        hide = _hide_column(ref, table)
        if hide is not None:
            # Hidden since by another deletion: it stays with that deletion (and counts as left),
            # so every row a deletion hides still points at that deletion's user. A row in the
            # trash (before the deletion or since) comes back to its owner like any other, so
            # that restoring it from the trash shows them, not the System User.
            where.append(or_(hide.is_(None), _in_the_trash(table, hide)))
        if ref.unique_with:
            where.append(~_clash(ref, table, user_id))
        returned += _rowcount(
            session.execute(update(table).where(*where).values(unchanged_values(table, {col.name: user_id})))
        )
    if returned == mapped:
        # Every mapped row came back (the usual case): mark the kind's map rows by their key alone.
        session.execute(update(amap).where(*of_this_kind).values(restored_at=now))
    elif returned:
        back = select(obj).where(table.c.org_id == op.org_id, col == user_id)
        session.execute(update(amap).where(*of_this_kind, amap.c.object_id.in_(back)).values(restored_at=now))
    return returned


# Below this many map rows a restore's joins are small whatever plan is chosen.
_ANALYZE_MAP_FROM_ROWS = 1_000


def _refresh_map_statistics(session: Session) -> None:
    """Let PostgreSQL plan a large restore from the map's real size.

    A deletion writes its map rows in one go; until autovacuum analyzes the table, the planner
    believes the map holds next to nothing, and for each content row it then read every map row of
    the kind instead of probing one (measured: 13 s instead of 0.5 s to give 9,000 people back
    their manager). ANALYZE samples a fixed number of rows; it runs on its own connection so that
    its lock on the table is not held for the length of the restore.
    """
    if not _is_postgres(session):
        return
    with session.get_bind().engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ANALYZE {AUTHORSHIP.name}")


def _plan_for_these_values(session: Session) -> None:
    """On PostgreSQL, plan the rest of a small restore's statements for the values they are sent.

    psycopg prepares a statement once it has run five times, and PostgreSQL may then keep one
    generic plan for every value. The map's statistics come from the last large restore
    (``_refresh_map_statistics``), when the map may have held that one deletion: they then say
    every row has the same ``operation_id``, which seems to narrow nothing, and the generic plan
    for marking a kind restored read every map row of the kind through ``ix_authorship_object``
    instead of the operation's own rows by key. After a heavy person's restore, an ordinary
    person's took 96 ms instead of 33 ms (each of its 21 map updates 3 ms instead of 0.2 ms).
    Large operations keep the generic plans: planned for a heavy person's own values, their
    deletion took 14.5 s instead of 5.3 s and their restore 7.0 s instead of 5.0 s. ``SET LOCAL``
    ends with the transaction.
    """
    if _is_postgres(session):
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def restore_user(session: Session, user: User, *, actor: User | None) -> RestoreResult:
    """Undo a deletion or merge within the window: references still where the deletion put them
    go back, hidden content reappears, and the account returns as dismissed (no seat)."""
    accounts.lock_organization(session, user.org_id)
    user = _lock_user(session, user)
    if user.status != UserStatus.DELETED.value:
        raise errors.InvalidTransition(f"{user.display_name} is not deleted.")
    now = clock.now()
    op = _latest_restorable_operation(session, user)
    if (
        op is None
        or op.purged_at is not None
        or op.restorable_until is None
        or op.restorable_until <= now
        or not user.email
    ):
        purged = op is None or op.purged_at is not None or not user.email
        raise errors.RestoreWindowPassed(
            "The restore window has passed: the account was purged and cannot come back."
            if purged
            else "The restore window has passed: the account can no longer come back and is "
            "purged at the next purge run."
        )
    key = accounts.email_key(user.email)
    holder = _address_holder(session, user.org_id, key)
    if holder is not None:
        raise errors.EmailInUse(
            f"{user.email} now belongs to someone else "
            f"({'another person' if 'user_id' in holder else 'a pending invitation'}); change "
            "or free that address first.",
            email=user.email,
            **holder,
        )
    amap = AUTHORSHIP
    # What the operation moved, per kind and target, in one grouped read of the map: only kinds
    # that appear there are touched, so a small restore costs a few statements.
    totals: dict[str, int] = {}
    targets: dict[str, list[uuid.UUID]] = {}
    for kind, moved_to, count in session.execute(
        select(amap.c.kind, amap.c.moved_to_id, func.count())
        .where(amap.c.org_id == op.org_id, amap.c.operation_id == op.id, amap.c.restored_at.is_(None))
        .group_by(amap.c.kind, amap.c.moved_to_id)
    ).all():
        totals[kind] = totals.get(kind, 0) + int(count)
        targets.setdefault(kind, []).append(moved_to)
    if sum(totals.values()) >= _ANALYZE_MAP_FROM_ROWS:
        _refresh_map_statistics(session)
    else:
        _plan_for_these_values(session)
    restored: dict[str, int] = {}
    left: dict[str, int] = {}
    for kind in sorted(targets):
        ref = get_reference(kind)
        n = (
            0
            if ref is None
            else _return_rows(
                session, ref, op=op, user_id=user.id, targets=targets[kind], mapped=totals[kind], now=now
            )
        )
        if n:
            restored[kind] = n
        if int(totals.get(kind, 0)) - n > 0:
            left[kind] = int(totals.get(kind, 0)) - n
    unhidden = 0
    for table, hide, where in _hidden_by(op):
        unhidden += _rowcount(
            session.execute(update(table).where(*where).values(unchanged_values(table, {hide.name: None})))
        )
    op.restored_at = now
    user.status = UserStatus.DISMISSED.value
    user.email_key = key
    user.deleted_at = None
    user.restorable_until = None
    user.dismissed_at = user.dismissed_at or now
    record_event(
        session,
        org_id=user.org_id,
        action="user.restored",
        actor=actor,
        subject=user,
        details={"operation_id": str(op.id), "restored": restored, "left": left, "unhidden": unhidden},
    )
    _finish(session)
    return RestoreResult(user=user, operation_id=op.id, restored=restored, left=left, unhidden=unhidden)


# --------------------------------------------------------------------------------------------
# Purge


def destroy_rows(
    session: Session, table: Table, where: list[ColumnElement[bool]], org_id: uuid.UUID, depth: int = 0
) -> int:
    """Delete rows, after the rows of other tables that point at them without ON DELETE CASCADE."""
    if depth < 5:
        for child in Base.metadata.tables.values():
            if child is table or child.name in ("users", "organizations"):
                continue
            for fk in child.foreign_key_constraints:
                if fk.referred_table is not table or (fk.ondelete or "").upper() in ("CASCADE", "SET NULL"):
                    continue
                pairs = [
                    (element.parent, element.column)
                    for element in fk.elements
                    if element.parent.name != "org_id"
                ]
                if len(pairs) != 1:
                    continue
                child_col, parent_col = pairs[0]
                parents = select(parent_col).where(*where)
                destroy_rows(
                    session, child, [child.c.org_id == org_id, child_col.in_(parents)], org_id, depth + 1
                )
    statement: Delete = delete(table).where(*where)
    return _rowcount(session.execute(statement))


def _destroy_hidden(session: Session, op: LifecycleOperation) -> int:
    destroyed = 0
    for table, _hide, where in _hidden_by(op):
        destroyed += destroy_rows(session, table, where, op.org_id)
    return destroyed


def _scrub_user_row(session: Session, user: User, display_name: str) -> None:
    """Remove personal data from the tombstone and destroy the person's own data (their photo);
    the map keeps the name for admins."""
    for ref in all_references():
        if ref.handling is Handling.PERSONAL:
            table = _table(ref)
            session.execute(
                delete(table).where(table.c.org_id == user.org_id, table.c[ref.column] == user.id)
            )
    user.photo_version = None
    user.email = None
    user.email_key = None
    user.first_name = ""
    user.last_name = ""
    user.display_name = display_name
    user.position = ""
    user.password_hash = None
    user.restorable_until = None
    try:  # what an identity provider told about the person (its user name is often the email)
        from roster.scim.service import forget_scim_identity
    except ImportError:  # pragma: no cover - the SCIM module is optional
        return
    forget_scim_identity(user)


def _due_operations(session: Session, now: datetime, limit: int | None) -> list[LifecycleOperation]:
    query = (
        select(LifecycleOperation)
        .where(
            LifecycleOperation.purged_at.is_(None),
            LifecycleOperation.restorable_until <= now,
            LifecycleOperation.restored_at.is_(None),
            LifecycleOperation.kind.in_(RESTORABLE_KINDS),
        )
        .order_by(LifecycleOperation.restorable_until, LifecycleOperation.id)
    )
    if limit is not None:
        query = query.limit(limit)
    if _is_postgres(session):
        # Several server processes run the purge: each claims different operations.
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query).all())


def count_purgeable(session: Session, *, now: datetime | None = None) -> int:
    """How many deletions have passed their restore window and wait for the purge."""
    now = now or clock.now()
    return int(
        session.scalar(
            select(func.count())
            .select_from(LifecycleOperation)
            .where(
                LifecycleOperation.purged_at.is_(None),
                LifecycleOperation.restorable_until <= now,
                LifecycleOperation.restored_at.is_(None),
                LifecycleOperation.kind.in_(RESTORABLE_KINDS),
            )
        )
        or 0
    )


def purge_expired(session: Session, *, now: datetime | None = None, limit: int | None = None) -> int:
    """End every restore window that has passed: destroy the hidden content and the personal data
    of the user row (the map keeps the original name). Returns how many deletions were purged."""
    now = now or clock.now()
    operations = _due_operations(session, now, limit)
    for op in operations:
        destroyed = _destroy_hidden(session, op)
        op.purged_at = now
        user = session.get(User, (op.org_id, op.user_id))
        if user is not None and user.status == UserStatus.DELETED.value:
            _scrub_user_row(session, user, FORMER_EMPLOYEE)
        record_event(
            session,
            org_id=op.org_id,
            action="user.purged",
            actor=None,
            subject=user,
            details={"operation_id": str(op.id), "destroyed": destroyed, "by": "purge"},
        )
    if operations:
        _finish(session)
    return len(operations)


# --------------------------------------------------------------------------------------------
# Erase (GDPR Art. 17)


def _next_pseudonym(session: Session, org_id: uuid.UUID) -> str:
    """ "Former employee N", N counting the organization's erasures (the org row is locked)."""
    erased = session.scalar(
        select(func.count())
        .select_from(LifecycleOperation)
        .where(LifecycleOperation.org_id == org_id, LifecycleOperation.kind == OperationKind.ERASE.value)
    )
    return f"{PSEUDONYM_PREFIX} {int(erased or 0) + 1}"


def _personal_strings(session: Session, user: User) -> list[str]:
    values = {
        user.email or "",
        user.display_name,
        f"{user.first_name} {user.last_name}".strip(),
        user.first_name,
        user.last_name,
        *earlier_addresses(session, org_id=user.org_id, user_id=user.id),
    }
    return sorted((v for v in values if len(v.strip()) >= 3), key=len, reverse=True)


def _scrub_mail(
    session: Session, outbox: Table, org_id: uuid.UUID, needles: list[str], pseudonym: str
) -> None:
    """The person's name leaves other people's mail where it stands on its own: a plain text
    replace would also rewrite "Anna" when "Ann" is erased, or a link that happens to hold it."""
    columns = [outbox.c[c] for c in ("subject", "body_text") if c in outbox.c]
    if not columns or not needles:
        return
    maybe = [c.contains(n) for c in columns for n in needles]
    maybe += [func.lower(c).contains(n.casefold()) for c in columns for n in needles if n.isascii()]
    rows = session.execute(select(outbox.c.id, *columns).where(outbox.c.org_id == org_id, or_(*maybe))).all()
    for row in rows:
        values = {
            c.name: replace_names(row._mapping[c.name], needles, pseudonym)
            for c in columns
            if row._mapping[c.name] is not None
        }
        changed = {k: v for k, v in values.items() if v != row._mapping[k]}
        if changed:
            session.execute(
                update(outbox).where(outbox.c.org_id == org_id, outbox.c.id == row.id).values(changed)
            )


def _forget_mail_and_invitations(
    session: Session, user: User, needles: Iterable[str], pseudonym: str
) -> None:
    """Mail to the person goes; their name leaves other mail; their invitations are redacted."""
    outbox = Base.metadata.tables.get("mail_outbox")
    if outbox is not None and user.email:
        addresses = {user.email, *earlier_addresses(session, org_id=user.org_id, user_id=user.id)}
        session.execute(
            delete(outbox).where(
                outbox.c.org_id == user.org_id,
                func.lower(outbox.c.to_address).in_(sorted(a.lower() for a in addresses)),
            )
        )
        _scrub_mail(session, outbox, user.org_id, list(needles), pseudonym)
    invitations = Base.metadata.tables.get("invitations")
    if invitations is None:
        return
    mine: list[ColumnElement[bool]] = []
    if "accepted_user_id" in invitations.c:
        mine.append(invitations.c.accepted_user_id == user.id)
    if user.email and "email_key" in invitations.c:
        key_match = invitations.c.email_key == accounts.email_key(user.email)
        if "status" in invitations.c:
            # A pending invitation to the same address is somebody's new start, not this record.
            key_match = and_(key_match, invitations.c.status != "pending")
        mine.append(key_match)
    if not mine:
        return
    values: dict[str, Any] = {}
    placeholder = f"erased-{user.id.hex[:12]}@invalid"
    for column, value in (
        ("email", placeholder),
        ("email_key", placeholder),
        ("first_name", ""),
        ("last_name", ""),
        ("position", ""),
    ):
        if column in invitations.c:
            values[column] = value
    if values:
        session.execute(
            update(invitations).where(invitations.c.org_id == user.org_id, or_(*mine)).values(values)
        )


def erase_user(
    session: Session,
    user: User,
    *,
    actor: User | None,
    confirm: str | None,
    disposition: DispositionPlan | None = None,
) -> ErasureResult:
    """Delete and purge at once, and replace the person's name everywhere with a pseudonym
    ("Former employee N"): user row, authorship map, audit details, mail, invitations."""
    org = accounts.lock_organization(session, user.org_id)
    user = _lock_user(session, user)
    _check_removable(session, user, actor=actor, verb="erase")
    erased_before = session.scalar(
        select(LifecycleOperation.id).where(
            LifecycleOperation.org_id == user.org_id,
            LifecycleOperation.user_id == user.id,
            LifecycleOperation.kind == OperationKind.ERASE.value,
        )
    )
    if erased_before is not None:
        raise errors.InvalidTransition("This person has already been erased.")
    _check_confirmation(user, confirm)
    already_deleted = user.status == UserStatus.DELETED.value
    plan: dict[str, Disposition] = {}
    successor = None
    if not already_deleted:
        plan, successor = _resolve_plan(session, user, disposition or DispositionPlan())
    now = clock.now()
    pseudonym = _next_pseudonym(session, user.org_id)
    op = _new_operation(
        session,
        kind=OperationKind.ERASE,
        user=user,
        actor=actor,
        successor=successor,
        now=now,
        restorable_until=None,
        dispositions={"kinds": {k: v.value for k, v in plan.items()}},
    )
    counts = _Counts()
    if not already_deleted:
        system_user = accounts.get_system_user(session, user.org_id)
        counts = _dispose(
            session, user, op=op, plan=plan, system_user=system_user, successor=successor, now=now
        )
        _mark_deleted(session, user, org=org, now=now)
    _delete_credentials(session, org_id=user.org_id, user_id=user.id)
    # The earlier deletion's window ends now too: its hidden content is destroyed with this one's.
    pending = list(
        session.scalars(
            select(LifecycleOperation).where(
                LifecycleOperation.org_id == user.org_id,
                LifecycleOperation.user_id == user.id,
                LifecycleOperation.kind.in_(RESTORABLE_KINDS),
                LifecycleOperation.restored_at.is_(None),
                LifecycleOperation.purged_at.is_(None),
            )
        ).all()
    )
    op.dispositions = {**op.dispositions, "moved": counts.moved, "deleted": counts.hidden}
    destroyed = 0
    for earlier in [*pending, op]:
        destroyed += _destroy_hidden(session, earlier)
        earlier.purged_at = now

    needles = _personal_strings(session, user)
    _forget_mail_and_invitations(session, user, needles, pseudonym)
    redact_user(session, org_id=user.org_id, user_id=user.id, pseudonym=pseudonym)
    parts = [p for p in (user.first_name.strip(), user.last_name.strip()) if len(p) >= 3]
    if parts:
        # redact_user looks for the email, the display name and the full name; details that hold
        # the name's parts on their own (an invitation's first_name, last_name) need one more pass,
        # with the parts presented as the names it reads from the row.
        user.display_name = parts[0]
        user.first_name = parts[1] if len(parts) > 1 else ""
        user.last_name = ""
        redact_user(session, org_id=user.org_id, user_id=user.id, pseudonym=pseudonym)
    amap = AUTHORSHIP
    session.execute(
        update(amap)
        .where(amap.c.org_id == user.org_id, amap.c.original_user_id == user.id)
        .values(original_display_name=pseudonym)
    )
    _scrub_user_row(session, user, pseudonym)
    session.flush()
    record_event(
        session,
        org_id=user.org_id,
        action="user.erased",
        actor=actor,
        subject=user,
        details={
            "operation_id": str(op.id),
            "pseudonym": pseudonym,
            "moved": counts.moved,
            "deleted": counts.hidden,
            "destroyed": destroyed,
        },
    )
    _finish(session)
    return ErasureResult(
        user=user,
        operation_id=op.id,
        pseudonym=pseudonym,
        moved=counts.moved,
        deleted=counts.hidden,
        destroyed=destroyed,
    )


# --------------------------------------------------------------------------------------------
# Merge and transfer


def merge_users(
    session: Session, source: User, *, into: User, actor: User | None, confirm: str | None
) -> MergeResult:
    """Move every content reference of a duplicate account to ``into``, then delete the duplicate
    (restorable like any deletion; the map records each move under one operation)."""
    org = accounts.lock_organization(session, source.org_id)
    source = _lock_user(session, source)
    if into.org_id != source.org_id:
        raise errors.UnknownUser("No such user in this organization.", field="into_id")
    _check_removable(session, source, actor=actor, verb="merge")
    if source.status == UserStatus.DELETED.value:
        raise errors.InvalidTransition(f"{source.display_name} is already deleted.")
    target = _active_other_user(session, source.org_id, into.id, not_id=source.id, field_name="into_id")
    _check_confirmation(source, confirm)
    now = clock.now()
    restorable_until = now + timedelta(days=org.restore_window_days)
    op = _new_operation(
        session,
        kind=OperationKind.MERGE,
        user=source,
        actor=actor,
        successor=target,
        now=now,
        restorable_until=restorable_until,
        dispositions={"into_id": str(target.id)},
    )
    counts = _Counts()
    for ref in content_references():
        moved, hidden = _move_rows(
            session,
            ref,
            org_id=source.org_id,
            from_id=source.id,
            to_id=target.id,
            op_id=op.id,
            original_name=source.display_name,
            now=now,
        )
        counts.add(counts.moved, ref.kind, moved)
        counts.add(counts.hidden, ref.kind, hidden)
    op.dispositions = {**op.dispositions, "moved": counts.moved, "deleted": counts.hidden}
    _mark_deleted(session, source, org=org, now=now)
    record_event(
        session,
        org_id=source.org_id,
        action="user.merged",
        actor=actor,
        subject=source,
        details={
            "operation_id": str(op.id),
            "into_id": str(target.id),
            "moved": counts.moved,
            "deleted": counts.hidden,
            "restorable_until": restorable_until.isoformat(),
        },
    )
    _finish(session)
    return MergeResult(
        user=source, into=target, operation_id=op.id, moved=counts.moved, deleted=counts.hidden
    )


def transfer_references(
    session: Session,
    from_user: User,
    *,
    to: User,
    actor: User | None,
    kinds: Iterable[str] | None = None,
    originally_by: uuid.UUID | None = None,
    include_closed: bool = False,
) -> TransferResult:
    """Hand a person's references (every kind that may go to a successor, or the chosen kinds) to
    an active user without deleting anyone; ``originally_by`` keeps only what the map says was
    originally that person's. Of work with an end (tasks, leads), only what is still open moves
    unless ``include_closed``: a done task or a won lead stays with whoever had it. Recorded in
    the map and the audit log; a handover that finds nothing to move changes and records
    nothing."""
    accounts.lock_organization(session, from_user.org_id)
    if to.org_id != from_user.org_id:
        raise errors.UnknownUser("No such user in this organization.", field="to_id")
    target = _active_other_user(session, from_user.org_id, to.id, not_id=from_user.id, field_name="to_id")
    refs = {ref.kind: ref for ref in content_references()}
    if kinds is None:
        chosen = [ref for ref in refs.values() if Disposition.SUCCESSOR in ref.dispositions]
    elif not kinds:
        raise errors.ValidationFailed("Choose at least one kind of work to hand over.", field="kinds")
    else:
        chosen = []
        for kind in dict.fromkeys(kinds):
            ref = refs.get(kind)
            if ref is None:
                raise errors.DispositionNotAllowed(f"Unknown kind of reference {kind!r}.", kind=kind)
            if Disposition.SUCCESSOR not in ref.dispositions:
                raise errors.DispositionNotAllowed(
                    f"{ref.label} ({kind}) cannot be handed to another person.",
                    kind=kind,
                    allowed=[d.value for d in ref.dispositions],
                )
            chosen.append(ref)
    if originally_by is not None and session.get(User, (from_user.org_id, originally_by)) is None:
        raise errors.UnknownUser(
            "No such user in this organization.", field="originally_by", user_id=str(originally_by)
        )
    now = clock.now()
    op = _new_operation(
        session,
        kind=OperationKind.TRANSFER,
        user=from_user,
        actor=actor,
        successor=target,
        now=now,
        restorable_until=None,
        dispositions={
            "kinds": [ref.kind for ref in chosen],
            "originally_by": str(originally_by) if originally_by else None,
            "include_closed": include_closed,
        },
    )
    counts = _Counts()
    kept_closed: dict[str, int] = {}
    kept_duplicate: dict[str, int] = {}
    for ref in chosen:
        table = _table(ref)
        still_open = None if include_closed else _still_open(ref, table)
        if still_open is not None:
            closed = _count_held(
                session, ref, table, holder=from_user, originally_by=originally_by, only=~still_open
            )
            if closed:
                kept_closed[ref.kind] = closed
        if ref.unique_with:
            # What the recipient has already (they observe the task too) stays with its holder.
            clash = _clash(ref, table, target.id)
            doubled = _count_held(
                session,
                ref,
                table,
                holder=from_user,
                originally_by=originally_by,
                only=clash if still_open is None else and_(clash, still_open),
            )
            if doubled:
                kept_duplicate[ref.kind] = doubled
        moved, hidden = _move_rows(
            session,
            ref,
            org_id=from_user.org_id,
            from_id=from_user.id,
            to_id=target.id,
            op_id=op.id,
            original_name=from_user.display_name,
            now=now,
            originally_by=originally_by,
            include_hidden=False,  # a handover is of live references; hidden rows stay as they are
            hide_clashes=False,  # nobody is deleted: a duplicate stays with its owner
            only=still_open,
        )
        counts.add(counts.moved, ref.kind, moved)
        counts.add(counts.hidden, ref.kind, hidden)
    if not counts.moved and not counts.hidden:
        # Nothing changed hands: no operation and no audit event for a handover that did nothing.
        session.delete(op)
        _finish(session)
        return TransferResult(moved={}, kept_closed=kept_closed, kept_duplicate=kept_duplicate)
    op.dispositions = {
        **op.dispositions,
        "moved": counts.moved,
        "deleted": counts.hidden,
        "kept_closed": kept_closed,
        "kept_duplicate": kept_duplicate,
    }
    record_event(
        session,
        org_id=from_user.org_id,
        action="references.transferred",
        actor=actor,
        subject=from_user,
        details={
            "operation_id": str(op.id),
            "to_id": str(target.id),
            "originally_by": str(originally_by) if originally_by else None,
            "moved": counts.moved,
            "deleted": counts.hidden,
            "include_closed": include_closed,
            "kept_closed": kept_closed,
            "kept_duplicate": kept_duplicate,
        },
    )
    _finish(session)
    return TransferResult(moved=counts.moved, kept_closed=kept_closed, kept_duplicate=kept_duplicate)


def _count_held(
    session: Session,
    ref: UserReference,
    table: Table,
    *,
    holder: User,
    originally_by: uuid.UUID | None,
    only: ColumnElement[bool],
) -> int:
    """How many of ``holder``'s visible rows of ``ref`` match ``only`` (and ``originally_by``)."""
    where: list[ColumnElement[bool]] = [
        table.c.org_id == holder.org_id,
        table.c[ref.column] == holder.id,
        only,
    ]
    hide = _hide_column(ref, table)
    if hide is not None:
        where.append(hide.is_(None))
    if originally_by is not None:
        where.append(_originally(ref, table, originally_by=originally_by, holder_id=holder.id))
    return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@dataclass(frozen=True)
class OriginalHolding:
    """What a person holds that the map says was originally someone else's, per kind: all of it
    (``counts``), and of the kinds that are work with an end, how much is still open (``open``)."""

    original_user_id: uuid.UUID
    original_display_name: str
    counts: dict[str, int]
    open: dict[str, int] = field(default_factory=dict)


def list_holdings_by_original(
    session: Session, user: User, *, originally_by: uuid.UUID | None = None
) -> list[OriginalHolding]:
    """For a handover with ``originally_by``: whose, originally, are the references ``user`` holds
    now (the System User's records, say), counted per kind that may go to a successor, as
    ``transfer_references(originally_by=..., include_closed=True)`` would move them, and the open
    part of each kind that has one, as a handover without ``include_closed`` moves. Most first.

    With ``originally_by``, only what was originally that one person's (the map is entered by its
    original-user index, instead of grouping everything ``user`` holds). One statement.
    """
    found: dict[uuid.UUID, OriginalHolding] = {}
    amap = AUTHORSHIP
    selects = []
    for ref in content_references():
        if Disposition.SUCCESSOR not in ref.dispositions:
            continue
        table = _table(ref)
        obj = object_column(ref, table)
        hide = _hide_column(ref, table)
        still_open = _still_open(ref, table)
        held: list[ColumnElement[bool]] = [
            table.c.org_id == user.org_id,
            table.c[ref.column] == user.id,
            *_held_through_map(ref, table, user.id),
        ]
        if hide is not None:
            held.append(hide.is_(None))
        n: ColumnElement[int]
        open_count: ColumnElement[int]
        if originally_by is None:
            # Everything the holder has, from the reference column's index, each row looked up
            # in the map.
            where = held
            n = func.count(func.distinct(obj))
            opened = case((still_open, obj)) if still_open is not None else None
        else:
            # One person's: their rows of the map (the original-user index, by kind), each looked
            # up in its table. Read the other way round, an unrelated person's page would walk
            # everything the System User holds.
            where = [
                amap.c.org_id == user.org_id,
                amap.c.original_user_id == originally_by,
                amap.c.kind == ref.kind,
                exists().where(*held),
            ]
            n = func.count(func.distinct(amap.c.object_id))
            opened = (
                case((exists().where(*held, still_open), amap.c.object_id))
                if still_open is not None
                else None
            )
        # -1: the kind has no open part.
        open_count = func.count(func.distinct(opened)) if opened is not None else literal(-1)
        selects.append(
            select(
                literal(ref.kind, String()).label("kind"),
                amap.c.original_user_id,
                func.max(amap.c.original_display_name).label("name"),
                n.label("n"),
                open_count.label("open"),
            )
            .where(*where)
            .group_by(amap.c.original_user_id)
        )
    rows = session.execute(union_all(*selects)).all() if selects else []
    for kind, original_id, name, count, opened in rows:
        entry = found.setdefault(original_id, OriginalHolding(original_id, name or "", {}))
        entry.counts[kind] = int(count)
        if opened >= 0:
            entry.open[kind] = int(opened)
    return sorted(found.values(), key=lambda h: (-sum(h.counts.values()), h.original_display_name))


# --------------------------------------------------------------------------------------------
# The authorship map (admin only)


@dataclass(frozen=True)
class OriginalAuthor:
    """Whose an object originally was: the name the map kept, and the account (its address while
    it has one), so that two people of the same name can be told apart. Shown as the name."""

    name: str
    user_id: uuid.UUID
    email: str | None

    def __str__(self) -> str:
        return self.name


def list_original_authors(
    session: Session, org_id: uuid.UUID, kind: str, object_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, OriginalAuthor]:
    """Whose these objects originally were (moved and not returned), as the map names them, by id."""
    wanted = list(set(object_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Authorship.object_id, Authorship.original_display_name, Authorship.original_user_id, User.email
        )
        .outerjoin(User, and_(User.org_id == Authorship.org_id, User.id == Authorship.original_user_id))
        .where(
            Authorship.org_id == org_id,
            Authorship.kind == kind,
            Authorship.object_id.in_(wanted),
            Authorship.restored_at.is_(None),
        )
        .order_by(Authorship.moved_at, Authorship.operation_id)
    ).all()
    names: dict[uuid.UUID, OriginalAuthor] = {}
    for object_id, name, user_id, email in rows:
        # The first move names the original author.
        names.setdefault(object_id, OriginalAuthor(name=name, user_id=user_id, email=email))
    return names


def list_authorship(
    session: Session,
    org_id: uuid.UUID,
    *,
    kind: str | None = None,
    object_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    include_restored: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuthorshipEntry], int]:
    """Moved references and whose they originally were, newest first: (items, total)."""
    conditions: list[ColumnElement[bool]] = [Authorship.org_id == org_id]
    if kind is not None:
        # No kind has a control character, and PostgreSQL cannot compare NUL: nothing matches.
        conditions.append(false() if has_control_characters(kind) else Authorship.kind == kind)
    if object_id is not None:
        conditions.append(Authorship.object_id == object_id)
    if user_id is not None:
        conditions.append(Authorship.original_user_id == user_id)
    if not include_restored:
        conditions.append(Authorship.restored_at.is_(None))
    total = int(session.scalar(select(func.count()).select_from(Authorship).where(*conditions)) or 0)
    rows = session.scalars(
        select(Authorship)
        .where(*conditions)
        .order_by(
            Authorship.moved_at.desc(), Authorship.operation_id.desc(), Authorship.kind, Authorship.object_id
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    user_ids = {r.original_user_id for r in rows} | {r.moved_to_id for r in rows}
    users = (
        {
            u.id: u
            for u in session.scalars(select(User).where(User.org_id == org_id, User.id.in_(user_ids))).all()
        }
        if user_ids
        else {}
    )
    items = [
        AuthorshipEntry(
            operation_id=r.operation_id,
            kind=r.kind,
            object_id=r.object_id,
            original_user=users[r.original_user_id],
            original_display_name=r.original_display_name,
            moved_to=users[r.moved_to_id],
            moved_at=r.moved_at,
            restored_at=r.restored_at,
        )
        for r in rows
    ]
    return items, total


__all__ = [
    "AuthorshipEntry",
    "DeletionPreview",
    "DeletionResult",
    "DispositionPlan",
    "ErasureResult",
    "MergeResult",
    "OriginalAuthor",
    "RestoreResult",
    "TransferResult",
    "count_purgeable",
    "delete_user",
    "erase_user",
    "list_authorship",
    "merge_users",
    "preview_deletion",
    "purge_expired",
    "restore_user",
    "transfer_references",
]
