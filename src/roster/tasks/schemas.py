"""Request and response shapes of the tasks API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from roster import clock
from roster.accounts.schemas import UserRef, user_ref
from roster.patches import Patch
from roster.tasks.models import Task, TaskStatus
from roster.tasks.service import PEOPLE_LIMIT, TaskPeople

# Generous transport limits; the service applies the real ones with a clear code.
_TEXT_MAX = 100_000


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=_TEXT_MAX)
    responsible_id: uuid.UUID
    participant_ids: list[uuid.UUID] = Field(default_factory=list, max_length=PEOPLE_LIMIT)
    observer_ids: list[uuid.UUID] = Field(default_factory=list, max_length=PEOPLE_LIMIT)
    deadline: AwareDatetime | None = None
    description: str = Field(default="", max_length=_TEXT_MAX)


class TaskPatch(Patch):
    """Only the fields sent change; ``"deadline": null`` clears the deadline."""

    clearable = frozenset({"deadline"})

    title: str | None = Field(default=None, max_length=_TEXT_MAX)
    description: str | None = Field(default=None, max_length=_TEXT_MAX)
    status: TaskStatus | None = None
    responsible_id: uuid.UUID | None = None
    deadline: AwareDatetime | None = None
    participant_ids: list[uuid.UUID] | None = Field(default=None, max_length=PEOPLE_LIMIT)
    observer_ids: list[uuid.UUID] | None = Field(default=None, max_length=PEOPLE_LIMIT)


class TaskOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    status: TaskStatus
    deadline: datetime | None
    overdue: bool = Field(description="Past its deadline and not done.")
    creator: UserRef
    responsible: UserRef
    participants: list[UserRef]
    observers: list[UserRef]
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int


def task_out(task: Task, people: TaskPeople, *, show_former_names: bool) -> TaskOut:
    """The API shape of a task, its people named from ``people`` (loaded once per page)."""

    def ref(user_id: uuid.UUID) -> UserRef:
        return user_ref(people.users[user_id], show_former_names=show_former_names)

    return TaskOut(
        id=task.id,
        title=task.title,
        description=task.description,
        status=TaskStatus(task.status),
        deadline=task.deadline,
        overdue=task.is_overdue(clock.now()),
        creator=ref(task.creator_id),
        responsible=ref(task.responsible_id),
        participants=[ref(u) for u in people.participants.get(task.id, [])],
        observers=[ref(u) for u in people.observers.get(task.id, [])],
        created_at=task.created_at,
        updated_at=task.updated_at,
    )
