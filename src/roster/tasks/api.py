"""Tasks API: ``/tasks``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from roster.accounts.deps import DB, CurrentUser, Principal
from roster.locations import set_location
from roster.tasks import service
from roster.tasks.models import Task, TaskStatus
from roster.tasks.schemas import TaskIn, TaskOut, TaskPage, TaskPatch, task_out
from roster.tasks.service import UNSET, TaskRole

router = APIRouter(tags=["tasks"])


def _render(session: DB, principal: Principal, tasks: list[Task]) -> list[TaskOut]:
    people = service.load_people(session, principal.org_id, tasks)
    show = principal.organization(session).show_former_employee_names
    return [task_out(t, people, show_former_names=show) for t in tasks]


@router.post("/tasks", response_model=TaskOut, status_code=status.HTTP_201_CREATED)
def create_task(
    body: TaskIn, request: Request, response: Response, principal: CurrentUser, session: DB
) -> TaskOut:
    """Create a task; the responsible person, participants and observers must be active users."""
    task = service.create_task(
        session,
        actor=principal.user,
        title=body.title,
        responsible_id=body.responsible_id,
        participant_ids=body.participant_ids,
        observer_ids=body.observer_ids,
        deadline=body.deadline,
        description=body.description,
    )
    set_location(request, response, f"/tasks/{task.id}")
    return _render(session, principal, [task])[0]


@router.get("/tasks", response_model=TaskPage)
def list_tasks(
    principal: CurrentUser,
    session: DB,
    role: TaskRole = TaskRole.ALL,
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = None,
    overdue: Annotated[
        bool | None,
        Query(description="`true`: only tasks past their deadline and not done; `false`: the others."),
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,  # beyond that an offset overflows SQL integers
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TaskPage:
    """My tasks, newest first: those I am responsible for, created, take part in or observe.
    `role=everyone` (admins only; others get 403 `forbidden`) lists every task of the organization."""
    tasks, total = service.list_tasks(
        session, principal.user, role=role, status=task_status, overdue=overdue, page=page, per_page=per_page
    )
    return TaskPage(items=_render(session, principal, tasks), total=total)


@router.get("/tasks/{task_id}", response_model=TaskOut)
def get_task(task_id: uuid.UUID, principal: CurrentUser, session: DB) -> TaskOut:
    task = service.get_task(session, principal.user, task_id)
    return _render(session, principal, [task])[0]


@router.patch("/tasks/{task_id}", response_model=TaskOut)
def update_task(task_id: uuid.UUID, body: TaskPatch, principal: CurrentUser, session: DB) -> TaskOut:
    """Change a task: its creator, its responsible person or an admin."""
    task = service.get_task(session, principal.user, task_id, for_update=True)
    sent = body.model_fields_set
    service.update_task(
        session,
        task,
        actor=principal.user,
        title=body.title,
        description=body.description,
        status=body.status,
        responsible_id=body.responsible_id,
        deadline=body.deadline if "deadline" in sent else UNSET,
        participant_ids=body.participant_ids,
        observer_ids=body.observer_ids,
    )
    return _render(session, principal, [task])[0]


@router.delete("/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(task_id: uuid.UUID, principal: CurrentUser, session: DB) -> Response:
    """Delete a task: its creator or an admin."""
    task = service.get_task(session, principal.user, task_id, for_update=True)
    service.delete_task(session, task, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
