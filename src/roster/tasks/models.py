"""Tasks: who asked, who answers for it, who works on it and who watches it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, Hideable, TenantMixin
from roster.references import Disposition, Meaning, StillOpen, UserReference, register
from roster.trash.registry import Part, TrashKind, titled_by
from roster.trash.registry import register as register_trash


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def _user_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", column], ["users.org_id", "users.id"])


def _task_fk() -> ForeignKeyConstraint:
    # A task's purge (or its deletion by its creator) takes its people rows with it.
    return ForeignKeyConstraint(["org_id", "task_id"], ["tasks.org_id", "tasks.id"], ondelete="CASCADE")


class Task(TenantMixin, Hideable, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        _user_fk("creator_id"),
        _user_fk("responsible_id"),
        Index("ix_tasks_creator", "org_id", "creator_id"),
        Index("ix_tasks_responsible", "org_id", "responsible_id"),
    )

    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN.value)
    deadline: Mapped[datetime | None] = mapped_column()
    creator_id: Mapped[uuid.UUID] = mapped_column()
    responsible_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    def is_overdue(self, now: datetime) -> bool:
        """Past its deadline and not done."""
        return self.deadline is not None and self.status != TaskStatus.DONE.value and self.deadline < now


class TaskParticipant(TenantMixin, Hideable, Base):
    """Someone who works on the task beside the responsible person."""

    __tablename__ = "task_participants"
    __table_args__ = (
        _task_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "task_id", "user_id"),
        Index("ix_task_participants_user", "org_id", "user_id"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    added_at: Mapped[datetime] = mapped_column(default=clock.now)


class TaskObserver(TenantMixin, Hideable, Base):
    """Someone who follows the task without working on it."""

    __tablename__ = "task_observers"
    __table_args__ = (
        _task_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "task_id", "user_id"),
        Index("ix_task_observers_user", "org_id", "user_id"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    added_at: Mapped[datetime] = mapped_column(default=clock.now)


_ANY = (Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE)
_DONE = (TaskStatus.DONE.value,)
_TASK_OPEN = StillOpen(column="status", closed=_DONE)
_PARENT_TASK_OPEN = StillOpen(column="status", closed=_DONE, parent="tasks", parent_key="task_id")

register(
    UserReference(
        kind="tasks.task.creator",
        table="tasks",
        column="creator_id",
        label="Tasks they created",
        meaning=Meaning.CREATOR,
        # Who set a task is a fact about the task; deleting the creator must not delete the work
        # others answer for, so the row is never hidden for this reference.
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR),
        open_when=_TASK_OPEN,
    )
)
register(
    UserReference(
        kind="tasks.task.responsible",
        table="tasks",
        column="responsible_id",
        label="Tasks they are responsible for",
        meaning=Meaning.RESPONSIBLE,
        dispositions=_ANY,
        hide_column="hidden_by",
        open_when=_TASK_OPEN,
    )
)
register(
    UserReference(
        kind="tasks.participant.user",
        table="task_participants",
        column="user_id",
        label="Tasks they take part in",
        meaning=Meaning.PARTICIPANT,
        dispositions=_ANY,
        unique_with=("task_id",),
        hide_column="hidden_by",
        open_when=_PARENT_TASK_OPEN,
    )
)
register(
    UserReference(
        kind="tasks.observer.user",
        table="task_observers",
        column="user_id",
        label="Tasks they observe",
        meaning=Meaning.OBSERVER,
        dispositions=_ANY,
        unique_with=("task_id",),
        hide_column="hidden_by",
        open_when=_PARENT_TASK_OPEN,
    )
)


# --- the trash ------------------------------------------------------------------------------

_TASKS: Table = Task.__table__  # type: ignore[assignment]


def _of_task(model: type[Base]) -> Part:
    table: Table = model.__table__  # type: ignore[assignment]
    return Part(table, lambda org_id, task_id: (table.c.org_id == org_id, table.c.task_id == task_id))


register_trash(
    TrashKind(
        name="task",
        label="Task",
        table=_TASKS,
        owner_column="creator_id",
        dependents=(_of_task(TaskParticipant), _of_task(TaskObserver)),
        describe=titled_by(_TASKS, "title"),
    )
)
