"""Tasks: create, list "my tasks" by role, read, change and delete.

Who sees a task: its creator, its responsible person, its participants and observers, and admins.
Who changes it: its creator, its responsible person and admins. Who deletes it: its creator and
admins. Everyone else gets 404 (cannot see) or 403 (can see, cannot change). Services never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, delete, func, not_, or_, select, true, union
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.domain import errors
from roster.domain.text import clean_text
from roster.tasks.models import Task, TaskObserver, TaskParticipant, TaskStatus
from roster.trash.models import TrashItem
from roster.trash.service import move_to_trash

TITLE_LIMIT = 300
DESCRIPTION_LIMIT = 20_000
PEOPLE_LIMIT = 100


class TaskRole(StrEnum):
    """How the caller is involved in a task ("my tasks" by role); ``everyone`` is not a part
    anyone plays but every task of the organization, which only admins may list."""

    ALL = "all"
    RESPONSIBLE = "responsible"
    CREATOR = "creator"
    PARTICIPANT = "participant"
    OBSERVER = "observer"
    EVERYONE = "everyone"


class _Unset:
    pass


UNSET: Any = _Unset()

PeopleTable = type[TaskParticipant] | type[TaskObserver]


def active_users(
    session: Session, org_id: uuid.UUID, user_ids: Iterable[uuid.UUID], *, field: str
) -> list[User]:
    """The users, each of whom must be active, in one query (order kept, repeats dropped).

    Unknown ids (and other organizations' ids) are ``unknown_user``; dismissed, deleted and System
    users are ``inactive_user``, as :func:`roster.accounts.service.require_active_user` rules. The
    refusal is about the first one at fault and lists every one of the field's (``user_ids``).
    """
    wanted = list(dict.fromkeys(user_ids))
    if len(wanted) > PEOPLE_LIMIT:
        raise errors.ValidationFailed(f"At most {PEOPLE_LIMIT} people.", field=field)
    if not wanted:
        return []
    found = accounts.load_users_to_reference(session, org_id, set(wanted))  # against a racing deletion
    at_fault = [i for i in wanted if i not in found or not found[i].is_active]
    if at_fault:
        first = found.get(at_fault[0])
        named = [str(i) for i in at_fault]
        if len(at_fault) > 1:
            several = (
                f"{len(at_fault)} of the people chosen can no longer be chosen: remove them or choose others."
            )
            refusal = errors.UnknownUser if first is None else errors.InactiveUser
            raise refusal(several, field=field, user_id=named[0], user_ids=named)
        if first is None:
            raise errors.UnknownUser(
                "No such user in this organization.", field=field, user_id=named[0], user_ids=named
            )
        raise accounts.inactive_user(first, field=field, user_ids=named)
    return [found[i] for i in wanted]


def _clean_title(title: str) -> str:
    return clean_text(title, field="title", limit=TITLE_LIMIT, multiline=False)


def _clean_description(description: str) -> str:
    return clean_text(description, field="description", limit=DESCRIPTION_LIMIT, allow_empty=True)


def _deadline_in_utc(deadline: datetime | None) -> datetime | None:
    if deadline is None:
        return None
    try:
        return clock.to_utc(deadline)
    except ValueError as exc:
        raise errors.ValidationFailed(f"The deadline {exc}", field="deadline") from None


def create_task(
    session: Session,
    *,
    actor: User,
    title: str,
    responsible_id: uuid.UUID,
    participant_ids: Sequence[uuid.UUID] = (),
    observer_ids: Sequence[uuid.UUID] = (),
    deadline: datetime | None = None,
    description: str = "",
) -> Task:
    """Create a task; every person named must be an active user of the actor's organization. A
    refusal names every field at fault (``errors``), and nothing is written."""
    accounts.require_live_actor(session, actor)
    refusals = errors.FieldRefusals()
    clean_title = refusals.check(_clean_title, title)
    clean_description = refusals.check(_clean_description, description)
    responsible = refusals.check(
        active_users, session, actor.org_id, [responsible_id], field="responsible_id"
    )
    participants = refusals.check(
        active_users, session, actor.org_id, participant_ids, field="participant_ids"
    )
    observers = refusals.check(active_users, session, actor.org_id, observer_ids, field="observer_ids")
    due = refusals.check(_deadline_in_utc, deadline)
    refusals.raise_any()
    assert clean_title is not None and clean_description is not None and responsible is not None
    now = clock.now()
    task = Task(
        org_id=actor.org_id,
        title=clean_title,
        description=clean_description,
        status=TaskStatus.OPEN.value,
        deadline=due,
        creator_id=actor.id,
        responsible_id=responsible[0].id,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    for user in participants or ():
        session.add(TaskParticipant(org_id=task.org_id, task_id=task.id, user_id=user.id, added_at=now))
    for user in observers or ():
        session.add(TaskObserver(org_id=task.org_id, task_id=task.id, user_id=user.id, added_at=now))
    session.flush()
    return task


def _tasks_of_member(table: PeopleTable, user: User) -> Select[uuid.UUID]:
    """The ids of the tasks the user takes part in through ``table`` (found by its user index)."""
    return select(table.task_id).where(
        table.org_id == user.org_id, table.user_id == user.id, table.hidden_by.is_(None)
    )


def _member_of(table: PeopleTable, user: User) -> ColumnElement[bool]:
    return Task.id.in_(_tasks_of_member(table, user))


def _role_filter(user: User, role: TaskRole) -> ColumnElement[bool]:
    if role is TaskRole.EVERYONE:
        return true()
    if role is TaskRole.RESPONSIBLE:
        return Task.responsible_id == user.id
    if role is TaskRole.CREATOR:
        return Task.creator_id == user.id
    if role is TaskRole.PARTICIPANT:
        return _member_of(TaskParticipant, user)
    if role is TaskRole.OBSERVER:
        return _member_of(TaskObserver, user)
    # Every task the user has a part in, as a union of four index lookups: an OR of the four
    # conditions reads every task of the organization (SQLite cannot use an index for it).
    return Task.id.in_(
        union(
            select(Task.id).where(Task.org_id == user.org_id, Task.creator_id == user.id),
            select(Task.id).where(Task.org_id == user.org_id, Task.responsible_id == user.id),
            _tasks_of_member(TaskParticipant, user),
            _tasks_of_member(TaskObserver, user),
        )
    )


def can_see_task(session: Session, viewer: User, task: Task) -> bool:
    """Admins, the creator, the responsible person, participants and observers see a task."""
    if task.org_id != viewer.org_id or task.hidden_by is not None:
        return False
    if viewer.is_admin or viewer.id in (task.creator_id, task.responsible_id):
        return True
    query = select(Task.id).where(
        Task.org_id == task.org_id, Task.id == task.id, _role_filter(viewer, TaskRole.ALL)
    )
    return session.scalar(query) is not None


def can_change_task(viewer: User, task: Task) -> bool:
    """The creator, the responsible person and admins change a task."""
    return viewer.is_admin or viewer.id in (task.creator_id, task.responsible_id)


def can_delete_task(viewer: User, task: Task) -> bool:
    """The creator and admins delete a task."""
    return viewer.is_admin or viewer.id == task.creator_id


def require_can_change_task(viewer: User, task: Task) -> None:
    """Forbidden unless the viewer may change the task (what a change form checks before it shows)."""
    if not can_change_task(viewer, task):
        raise errors.Forbidden("Only the task's creator, its responsible person or an admin may change it.")


def require_can_delete_task(viewer: User, task: Task) -> None:
    """Forbidden unless the viewer may delete the task."""
    if not can_delete_task(viewer, task):
        raise errors.Forbidden("Only the task's creator or an admin may delete it.")


def get_task(session: Session, viewer: User, task_id: uuid.UUID, *, for_update: bool = False) -> Task:
    """A task the viewer may see, or NotFound."""
    query = select(Task).where(Task.org_id == viewer.org_id, Task.id == task_id, Task.hidden_by.is_(None))
    if for_update:
        query = query.with_for_update()
    task = session.scalar(query)
    if task is None or not can_see_task(session, viewer, task):
        raise errors.NotFound("No such task.")
    return task


def overdue_now() -> ColumnElement[bool]:
    """Tasks past their deadline and not done (``Task.is_overdue`` in SQL)."""
    return and_(Task.deadline < clock.now(), Task.status != TaskStatus.DONE.value)


def _listing(viewer: User, role: TaskRole, status: TaskStatus | None, overdue: bool | None) -> Select[Task]:
    query = select(Task).where(
        Task.org_id == viewer.org_id, Task.hidden_by.is_(None), _role_filter(viewer, role)
    )
    if status is not None:
        query = query.where(Task.status == status.value)
    if overdue is not None:
        late = overdue_now()
        query = query.where(late if overdue else or_(Task.deadline.is_(None), not_(late)))
    return query


def can_list_tasks(viewer: User, role: TaskRole) -> bool:
    """Everyone lists the tasks they take part in; only admins list every task (``everyone``)."""
    return role is not TaskRole.EVERYONE or viewer.is_admin


def list_task_roles(viewer: User) -> list[TaskRole]:
    """The roles the viewer may list tasks by, in the order a page offers them."""
    return [role for role in TaskRole if can_list_tasks(viewer, role)]


def list_tasks(
    session: Session,
    viewer: User,
    *,
    role: TaskRole = TaskRole.ALL,
    status: TaskStatus | None = None,
    overdue: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Task], int]:
    """The viewer's tasks in the given role (an admin's ``everyone``: every task of their
    organization), newest first, never a hidden one, and how many there are in all; AdminOnly
    when an employee asks for ``everyone``. ``overdue`` keeps only the overdue tasks (True) or
    only the others (False)."""
    if not can_list_tasks(viewer, role):
        raise errors.AdminOnly("Only an administrator may list every task in the organization.")
    query = _listing(viewer, role, status, overdue)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    tasks = session.scalars(
        query.order_by(Task.created_at.desc(), Task.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return list(tasks), total


@dataclass
class TaskPeople:
    """Everyone a set of tasks names, loaded in one query per table (no query per task)."""

    users: dict[uuid.UUID, User] = field(default_factory=dict)
    participants: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    observers: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)


def _people_rows(
    session: Session, table: PeopleTable, org_id: uuid.UUID, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    result: dict[uuid.UUID, list[uuid.UUID]] = {task_id: [] for task_id in task_ids}
    rows = session.execute(
        select(table.task_id, table.user_id)
        .where(table.org_id == org_id, table.task_id.in_(task_ids), table.hidden_by.is_(None))
        .order_by(table.added_at, table.id)
    )
    for task_id, user_id in rows:
        result[task_id].append(user_id)
    return result


def load_people(session: Session, org_id: uuid.UUID, tasks: Sequence[Task]) -> TaskPeople:
    """The participants, observers and every user the tasks name."""
    if not tasks:
        return TaskPeople()
    task_ids = [t.id for t in tasks]
    participants = _people_rows(session, TaskParticipant, org_id, task_ids)
    observers = _people_rows(session, TaskObserver, org_id, task_ids)
    user_ids = {t.creator_id for t in tasks} | {t.responsible_id for t in tasks}
    for ids in (*participants.values(), *observers.values()):
        user_ids.update(ids)
    users = {
        u.id: u for u in session.scalars(select(User).where(User.org_id == org_id, User.id.in_(user_ids)))
    }
    return TaskPeople(users=users, participants=participants, observers=observers)


def _set_people(
    session: Session, task: Task, table: PeopleTable, user_ids: Sequence[uuid.UUID], *, field: str
) -> bool:
    """Make the task's visible people of one kind exactly ``user_ids``; True if anything changed.

    Only people being added must be active: someone dismissed who already takes part stays
    unless left out. Rows hidden by a pending deletion are not touched (a restore brings them back).
    """
    wanted = list(dict.fromkeys(user_ids))
    rows = cast(
        list[TaskParticipant | TaskObserver],
        list(session.scalars(select(table).where(table.org_id == task.org_id, table.task_id == task.id))),
    )
    current = {r.user_id: r for r in rows if r.hidden_by is None}
    hidden = {r.user_id for r in rows if r.hidden_by is not None}
    added = [user_id for user_id in wanted if user_id not in current]
    users = active_users(session, task.org_id, added, field=field)
    if any(u.id in hidden for u in users):
        raise errors.Conflict(
            "That person's place on this task is held by a pending deletion; restore or purge it first.",
            field=field,
        )
    removed = [r.id for user_id, r in current.items() if user_id not in wanted]
    if removed:
        session.execute(delete(table).where(table.org_id == task.org_id, table.id.in_(removed)))
    now = clock.now()
    for user in users:
        session.add(table(org_id=task.org_id, task_id=task.id, user_id=user.id, added_at=now))
    return bool(removed or users)


def update_task(
    session: Session,
    task: Task,
    *,
    actor: User,
    title: str | None = None,
    description: str | None = None,
    status: TaskStatus | None = None,
    responsible_id: uuid.UUID | None = None,
    deadline: datetime | None = UNSET,
    participant_ids: Sequence[uuid.UUID] | None = None,
    observer_ids: Sequence[uuid.UUID] | None = None,
) -> Task:
    """Change a task (creator, responsible person or admin); a refused change writes nothing and
    names every field at fault (``errors``), not only the first."""
    require_can_change_task(actor, task)
    # Validate everything before the first write, so a refusal leaves the task as it was.
    refusals = errors.FieldRefusals()
    new_title = refusals.check(_clean_title, title) if title is not None else None
    new_description = refusals.check(_clean_description, description) if description is not None else None
    if deadline is not UNSET and deadline is not None:
        deadline = refusals.check(_deadline_in_utc, deadline)
    if responsible_id is not None and responsible_id != task.responsible_id:
        refusals.check(active_users, session, task.org_id, [responsible_id], field="responsible_id")
    for ids, table, name in (
        (participant_ids, TaskParticipant, "participant_ids"),
        (observer_ids, TaskObserver, "observer_ids"),
    ):
        if ids is not None:
            current = set(
                session.scalars(
                    select(table.user_id).where(
                        table.org_id == task.org_id, table.task_id == task.id, table.hidden_by.is_(None)
                    )
                )
            )
            refusals.check(
                active_users, session, task.org_id, [i for i in ids if i not in current], field=name
            )
    refusals.raise_any()

    changed = False
    if new_title is not None and new_title != task.title:
        task.title, changed = new_title, True
    if new_description is not None and new_description != task.description:
        task.description, changed = new_description, True
    if status is not None and status.value != task.status:
        task.status, changed = status.value, True
    if responsible_id is not None and responsible_id != task.responsible_id:
        task.responsible_id, changed = responsible_id, True
    if deadline is not UNSET and deadline != task.deadline:
        task.deadline, changed = deadline, True
    if participant_ids is not None:
        changed = (
            _set_people(session, task, TaskParticipant, participant_ids, field="participant_ids") or changed
        )
    if observer_ids is not None:
        changed = _set_people(session, task, TaskObserver, observer_ids, field="observer_ids") or changed
    if changed:
        task.updated_at = clock.now()
    session.flush()
    return task


def delete_task(session: Session, task: Task, *, actor: User) -> TrashItem:
    """Move a task to the trash (creator or admin), with its participants and observers; it can be
    restored until the organization's restore window ends."""
    require_can_delete_task(actor, task)
    item = move_to_trash(session, "task", org_id=task.org_id, object_id=task.id, actor=actor)
    session.expunge(task)
    return item
