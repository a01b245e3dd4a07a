"""Tasks, the drive and CRM leads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.deps import DB, Principal
from roster.accounts.models import User
from roster.accounts.schemas import UserRef
from roster.crm import service as crm
from roster.crm.models import Lead, LeadStatus
from roster.domain import errors, timezones
from roster.drive import service as drive
from roster.drive.storage import get_storage
from roster.stream.service import load_users
from roster.tasks import service as tasks
from roster.tasks.models import Task, TaskStatus
from roster.tasks.schemas import task_out
from roster.web.core import WebUser, app_settings, page_count, parse_uuid, redirect, render, zone_for
from roster.web.pages.shared import as_content_names, authorship_notes, picker_people
from roster.web.pages.trash import deleted_already, moved_to_trash

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
TASK_STATUS_LABELS = {"open": "Open", "in_progress": "In progress", "done": "Done"}


def _ids(values: list[str]) -> list[uuid.UUID]:
    return [u for u in (parse_uuid(v) for v in values) if u is not None]


def _deadline(value: str, zone: tzinfo) -> datetime | None:
    """A date field's value (``YYYY-MM-DD``, as browsers send it) as 17:00 that day in the zone of
    the person typing it; None when it is empty or not a date."""
    return timezones.local_day(value, zone, at=time(17, 0))


# --- Tasks ----------------------------------------------------------------------------------


def tasks_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    role: str = "all",
    overdue: bool = False,
    page: int = 1,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        task_role = tasks.TaskRole(role)
    except ValueError:
        task_role = tasks.TaskRole.ALL
    page = max(1, min(page, 100_000))
    items, total = tasks.list_tasks(
        session,
        principal.user,
        role=task_role,
        overdue=True if overdue else None,
        page=page,
        per_page=PER_PAGE,
    )
    roles = tasks.list_task_roles(principal.user)
    values = values or {"responsible_id": str(principal.user.id)}
    offered, field_people = _task_pickers(session, principal, values)
    people = tasks.load_people(session, principal.org_id, items)
    named = as_content_names(session, principal, people.users)
    now = clock.now()
    rows = [
        {
            "task": t,
            "overdue": t.is_overdue(now),
            "responsible": named.get(t.responsible_id),
            "creator": named.get(t.creator_id),
            "participants": _working_with(named, people.participants.get(t.id, []), t.responsible_id),
            "observers": [named[i] for i in people.observers.get(t.id, []) if i in named],
            "may_change": tasks.can_change_task(principal.user, t),
        }
        for t in items
    ]
    return render(
        request,
        "intranet/tasks.html",
        {
            "section": "tasks",
            "rows": rows,
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "role": task_role.value,
            "overdue": overdue,
            # The part the caller plays, as tabs; an admin's every task of the organization apart.
            "roles": [r.value for r in roles if r is not tasks.TaskRole.EVERYONE],
            "may_list_everyone": tasks.TaskRole.EVERYONE in roles,
            "statuses": TASK_STATUS_LABELS,
            "values": values,
            "field_errors": field_errors or {},
            "picker_people": offered,
            "field_people": field_people,
            "notes": authorship_notes(session, principal, "tasks.task.responsible", [t.id for t in items]),
            "creator_notes": authorship_notes(
                session, principal, "tasks.task.creator", [t.id for t in items]
            ),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _working_with(
    named: dict[uuid.UUID, User | UserRef], participant_ids: list[uuid.UUID], responsible_id: uuid.UUID
) -> list[User | UserRef]:
    """The "with ..." of a task in the list: its participants other than the responsible person
    (a handover can make one person both) and the System User (which holds a deleted person's
    participation, for a restore, but works on nothing). The task's own page lists them all."""
    return [
        named[i] for i in participant_ids if i in named and i != responsible_id and not named[i].is_system
    ]


@router.get("/tasks")
def task_list(
    request: Request, principal: WebUser, session: DB, role: str = "all", overdue: str = "", page: int = 1
) -> Response:
    return tasks_page(request, principal, session, role=role, overdue=overdue in ("1", "true"), page=page)


@router.get("/tasks/{task_id}")
def task_page(request: Request, principal: WebUser, session: DB, task_id: uuid.UUID) -> Response:
    """One task, read-only, for everyone who may see it (as the API's ``GET /tasks/{id}``: 404
    for anyone else); its Edit and Delete links and status form for those who may use them."""
    task = tasks.get_task(session, principal.user, task_id)
    people = tasks.load_people(session, principal.org_id, [task])
    show = principal.organization(session).show_former_employee_names
    return render(
        request,
        "intranet/task.html",
        {
            "section": "tasks",
            "task": task,
            # Its people as the API names them: "Former employee" where the organization says so.
            "out": task_out(task, people, show_former_names=show),
            "statuses": TASK_STATUS_LABELS,
            "may_change": tasks.can_change_task(principal.user, task),
            "may_delete": tasks.can_delete_task(principal.user, task),
            "note": authorship_notes(session, principal, "tasks.task.responsible", [task.id]).get(task.id),
            "creator_note": authorship_notes(session, principal, "tasks.task.creator", [task.id]).get(
                task.id
            ),
        },
        principal=principal,
        session=session,
    )


async def _task_form(
    title: Annotated[str, Form(max_length=1000)] = "",
    responsible_id: Annotated[str, Form(max_length=64)] = "",
    participant_ids: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    observer_ids: Annotated[list[str], Form()] = [],  # noqa: B006
    deadline: Annotated[str, Form(max_length=20)] = "",
    # A browser sends each line break of a text area as two characters; the service counts one.
    description: Annotated[str, Form(max_length=2 * tasks.DESCRIPTION_LIMIT)] = "",
) -> dict[str, Any]:
    """A task form (a new task or a change) as it was sent: what the form shows again if it is
    refused."""
    return {
        "title": title,
        "responsible_id": responsible_id,
        "participant_ids": participant_ids,
        "observer_ids": observer_ids,
        "deadline": deadline,
        "description": description,
    }


TaskForm = Annotated[dict[str, Any], Depends(_task_form)]


@router.post("/tasks")
def create_task(request: Request, principal: WebUser, session: DB, values: TaskForm) -> Response:
    """Create a task with a responsible person, participants and observers from the people picker."""

    def again(problems: dict[str, str], status_code: int) -> Response:
        return tasks_page(
            request, principal, session, values=values, field_errors=problems, status_code=status_code
        )

    return _submit_task(
        request,
        session,
        values,
        save=lambda fields: tasks.create_task(session, actor=principal.user, **fields),
        again=again,
        done="The task is created.",
        zone=zone_for(session, principal),
        past_deadline_note=True,
    )


def _saved(
    request: Request,
    session: Session,
    fields: dict[str, Any],
    *,
    save: Callable[[dict[str, Any]], object],
    again: Callable[[dict[str, str], int], Response],
    listing: str,
    done: str,
) -> Response:
    """``save`` the parsed fields of a form and go back to the ``listing`` with ``done``; on a
    refusal nothing is kept and the form is shown ``again``, each reason beside its field (every
    field the service refused, ``errors``, not only the first)."""
    try:
        with session.begin_nested():
            save(fields)
    except errors.RosterError as exc:
        return again(_marked(exc), exc.status)
    return redirect(listing, request, done)


def _marked(exc: errors.RosterError) -> dict[str, str]:
    """A refusal as a form marks it: the reason of each field at fault beside it (the title's
    when the refusal names no field)."""
    listed = exc.extra.get("errors")
    if isinstance(listed, list) and listed:
        return {str(e["field"]): str(e["message"]) for e in listed if isinstance(e, dict) and e.get("field")}
    return {str(exc.extra.get("field") or "title"): exc.detail}


def _submit_task(
    request: Request,
    session: Session,
    values: dict[str, Any],
    *,
    save: Callable[[dict[str, Any]], object],
    again: Callable[[dict[str, str], int], Response],
    done: str,
    zone: tzinfo,
    past_deadline_note: bool = False,
) -> Response:
    """A sent task form (a new task or a change): ``save`` the parsed fields and go back to the
    list, or show the form ``again`` with the reason beside its field and what was typed. A new
    task may have a deadline already past (work being recorded late); ``past_deadline_note`` says so
    when it is saved, in case the date was a slip."""
    responsible = parse_uuid(values["responsible_id"])
    deadline = _deadline(values["deadline"], zone)
    problems = {}
    if responsible is None:
        problems["responsible_id"] = "Pick who is responsible."
    if deadline is None and values["deadline"].strip():
        problems["deadline"] = "Enter the deadline as a date, such as 2027-03-31."
    if problems or responsible is None:
        return again(problems, 422)
    fields = {
        "title": values["title"],
        "responsible_id": responsible,
        "participant_ids": _ids(values["participant_ids"]),
        "observer_ids": _ids(values["observer_ids"]),
        "deadline": deadline,
        "description": values["description"],
    }
    if past_deadline_note and deadline is not None and deadline < clock.now():
        done += f" Its deadline ({deadline.astimezone(zone):%d %b %Y}) has passed already, so it shows as overdue."
    return _saved(request, session, fields, save=save, again=again, listing="/tasks", done=done)


@router.post("/tasks/{task_id}/status")
def set_task_status(
    request: Request,
    principal: WebUser,
    session: DB,
    task_id: uuid.UUID,
    status: Annotated[str, Form(max_length=20)] = "",
    back: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set a task's status; ``back=task`` returns to the task's own page rather than the list."""
    task = tasks.get_task(session, principal.user, task_id, for_update=True)
    to = f"/tasks/{task.id}" if back == "task" else "/tasks"
    try:
        new_status = TaskStatus(status)
        with session.begin_nested():
            tasks.update_task(session, task, actor=principal.user, status=new_status)
    except ValueError:
        return redirect(to, request, "Choose one of the offered statuses.", "error")
    except errors.RosterError as exc:
        return redirect(to, request, exc.detail, "error")
    return redirect(to, request, f"“{task.title}” is now {TASK_STATUS_LABELS[new_status.value].lower()}.")


def _offered_with(session: Session, principal: Principal, named: set[uuid.UUID]) -> list[User | UserRef]:
    """The people a form's pickers offer, and after them the ``named`` ones they would not (people
    already on a task or a lead who have left since, named as the organization says), so that
    saving the form keeps them."""
    offered: list[User | UserRef] = list(picker_people(session, principal))
    return offered + _unlisted(session, principal, named - {p.id for p in offered})


def _unlisted(session: Session, principal: Principal, ids: set[uuid.UUID]) -> list[User | UserRef]:
    """People a picker keeps without offering them, by name, as the task's or lead's page names
    them ("Former employee" when the organization hides the names of those who left)."""
    people = as_content_names(session, principal, load_users(session, principal.org_id, ids))
    return sorted(people.values(), key=lambda u: u.display_name)


def _task_pickers(
    session: Session, principal: Principal, values: dict[str, Any]
) -> tuple[list[User], dict[str, list[User | UserRef]]]:
    """The active people a task form's pickers offer, and whom each picker lists: those, and after
    them the people its field names whom they are not (someone on the task who left since, who
    stays offered where they are and so stays on it; or, on a form shown again after a refusal, a
    pick who left since the form was loaded, kept beside its error rather than dropped unseen).
    Only there: someone who left is no choice for another part of the task."""
    named = {
        "responsible_id": set(_ids([values.get("responsible_id", "")])),
        "participant_ids": set(_ids(values.get("participant_ids", []))),
        "observer_ids": set(_ids(values.get("observer_ids", []))),
    }
    offered = picker_people(session, principal)
    kept = _unlisted(session, principal, set().union(*named.values()) - {p.id for p in offered})
    return offered, {field: [*offered, *(p for p in kept if p.id in ids)] for field, ids in named.items()}


def task_edit_page(
    request: Request,
    principal: Principal,
    session: Session,
    task: Task,
    *,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if values is None:
        people = tasks.load_people(session, principal.org_id, [task])
        values = {
            "title": task.title,
            "responsible_id": str(task.responsible_id),
            "participant_ids": [str(i) for i in people.participants.get(task.id, [])],
            "observer_ids": [str(i) for i in people.observers.get(task.id, [])],
            "deadline": task.deadline.astimezone(zone_for(session, principal)).date().isoformat()
            if task.deadline
            else "",
            "description": task.description,
        }
    offered, field_people = _task_pickers(session, principal, values)
    return render(
        request,
        "intranet/task_edit.html",
        {
            "section": "tasks",
            "task": task,
            "values": values,
            "field_errors": field_errors or {},
            "picker_people": offered,
            "field_people": field_people,
            "may_delete": tasks.can_delete_task(principal.user, task),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _changeable_task(session: Session, principal: Principal, task_id: uuid.UUID) -> Task:
    task = tasks.get_task(session, principal.user, task_id, for_update=True)
    tasks.require_can_change_task(principal.user, task)
    return task


@router.get("/tasks/{task_id}/edit")
def edit_task_form(request: Request, principal: WebUser, session: DB, task_id: uuid.UUID) -> Response:
    return task_edit_page(request, principal, session, _changeable_task(session, principal, task_id))


@router.post("/tasks/{task_id}/edit")
def edit_task(
    request: Request, principal: WebUser, session: DB, task_id: uuid.UUID, values: TaskForm
) -> Response:
    """Change a task's title, people, deadline and description; a refusal keeps what was typed."""
    task = _changeable_task(session, principal, task_id)

    def again(problems: dict[str, str], status_code: int) -> Response:
        return task_edit_page(
            request, principal, session, task, values=values, field_errors=problems, status_code=status_code
        )

    return _submit_task(
        request,
        session,
        values,
        save=lambda fields: tasks.update_task(session, task, actor=principal.user, **fields),
        again=again,
        done="The task is saved.",
        zone=zone_for(session, principal),
    )


def confirm_delete_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    section: str,
    what: str,
    title: str,
    action: str,
    cancel: str,
    listing: tuple[str, str],
    consequence: str,
) -> Response:
    """The "are you sure?" page before a task, a lead or a file is deleted: a plain form, so it works
    without JavaScript, and opening it changes nothing."""
    return render(
        request,
        "intranet/confirm_delete.html",
        {
            "section": section,
            "what": what,
            "title": title,
            "action": action,
            "cancel": cancel,
            "listing": listing,
            "consequence": consequence,
        },
        principal=principal,
        session=session,
    )


@router.get("/tasks/{task_id}/delete")
def delete_task_form(request: Request, principal: WebUser, session: DB, task_id: uuid.UUID) -> Response:
    task = tasks.get_task(session, principal.user, task_id)
    tasks.require_can_delete_task(principal.user, task)
    return confirm_delete_page(
        request,
        principal,
        session,
        section="tasks",
        what="task",
        title=task.title,
        action=f"/tasks/{task.id}/delete",
        cancel=f"/tasks/{task.id}/edit",
        listing=("/tasks", "Tasks"),
        consequence="It leaves the task list, with its participants and observers, for everyone who sees it.",
    )


@router.post("/tasks/{task_id}/delete")
def delete_task(request: Request, principal: WebUser, session: DB, task_id: uuid.UUID) -> Response:
    """Move a task to the trash (its creator or an admin), after its confirmation page."""
    try:
        task = tasks.get_task(session, principal.user, task_id, for_update=True)
    except errors.NotFound as exc:
        return deleted_already(request, session, principal.user, "task", task_id, "/tasks", exc)
    title = task.title
    try:
        with session.begin_nested():
            item = tasks.delete_task(session, task, actor=principal.user)
    except errors.RosterError as exc:
        return redirect("/tasks", request, exc.detail, "error")
    return moved_to_trash(request, item, f"“{title}”", "/tasks")


# --- Drive ----------------------------------------------------------------------------------


@router.get("/drive")
def drive_page(request: Request, principal: WebUser, session: DB, page: int = 1) -> Response:
    page = max(1, min(page, 100_000))
    files, total = drive.list_files(session, principal.user, page=page, per_page=PER_PAGE)
    owners = as_content_names(
        session, principal, load_users(session, principal.org_id, {f.owner_id for f in files})
    )
    return render(
        request,
        "intranet/drive.html",
        {
            "section": "drive",
            "rows": [
                {
                    "file": f,
                    "owner": owners.get(f.owner_id),
                    "may_delete": drive.can_delete_file(principal.user, f),
                }
                for f in files
            ],
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "notes": authorship_notes(session, principal, "drive.file.owner", [f.id for f in files]),
        },
        principal=principal,
        session=session,
    )


@router.post("/drive")
def upload(
    request: Request,
    principal: WebUser,
    session: DB,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Upload a file to the common drive; the uploader owns it."""
    if file is None or not file.filename:
        return redirect("/drive", request, "Choose a file to upload first.", "error")
    settings = app_settings(request)
    try:
        with session.begin_nested():
            stored = drive.upload_file(
                session,
                actor=principal.user,
                name=file.filename,
                content_type=file.content_type,
                stream=file.file,
                storage=get_storage(settings, principal.org_id),
                max_bytes=settings.max_upload_bytes,
            )
    except errors.RosterError as exc:
        return redirect("/drive", request, f"The file was not uploaded: {exc.detail}", "error")
    return redirect("/drive", request, f"“{stored.name}” is uploaded.")


@router.get("/drive/{file_id}/delete")
def delete_file_form(request: Request, principal: WebUser, session: DB, file_id: uuid.UUID) -> Response:
    file = drive.get_file(session, principal.user, file_id)
    drive.require_can_delete_file(principal.user, file)
    return confirm_delete_page(
        request,
        principal,
        session,
        section="drive",
        what="file",
        title=file.name,
        action=f"/drive/{file.id}/delete",
        cancel="/drive",
        listing=("/drive", "Drive"),
        consequence="It leaves the drive, and its download link stops working, for everyone in the organization.",
    )


@router.post("/drive/{file_id}/delete")
def delete_file(request: Request, principal: WebUser, session: DB, file_id: uuid.UUID) -> Response:
    """Move a file to the trash (its owner or an admin), after its confirmation page."""
    try:
        file = drive.get_file(session, principal.user, file_id, for_update=True)
    except errors.NotFound as exc:
        return deleted_already(request, session, principal.user, "file", file_id, "/drive", exc)
    name = file.name
    try:
        with session.begin_nested():
            item = drive.delete_file(session, file, actor=principal.user)
    except errors.RosterError as exc:
        return redirect("/drive", request, exc.detail, "error")
    return moved_to_trash(request, item, f"“{name}”", "/drive")


# --- CRM ------------------------------------------------------------------------------------


def crm_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    status: str = "",
    page: int = 1,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        lead_status = LeadStatus(status) if status else None
    except ValueError:
        lead_status = None
    page = max(1, min(page, 100_000))
    leads, total = crm.list_leads(session, principal.user, status=lead_status, page=page, per_page=PER_PAGE)
    users = as_content_names(
        session, principal, load_users(session, principal.org_id, {lead.responsible_id for lead in leads})
    )
    return render(
        request,
        "intranet/crm.html",
        {
            "section": "crm",
            "rows": [
                {
                    "lead": lead,
                    "responsible": users.get(lead.responsible_id),
                    "may_change": crm.can_change_lead(principal.user, lead),
                }
                for lead in leads
            ],
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "status": lead_status.value if lead_status else "",
            "statuses": [s.value for s in LeadStatus],
            "values": values or {"responsible_id": str(principal.user.id), "status": LeadStatus.NEW.value},
            "field_errors": field_errors or {},
            "picker_people": picker_people(session, principal),
            "notes": authorship_notes(
                session, principal, "crm.lead.responsible", [lead.id for lead in leads]
            ),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/crm")
def leads(request: Request, principal: WebUser, session: DB, status: str = "", page: int = 1) -> Response:
    return crm_page(request, principal, session, status=status, page=page)


_LEAD_TEXT = ("title", "company", "contact_name", "contact_email", "contact_phone", "notes")


async def _lead_form(
    title: Annotated[str, Form(max_length=1000)] = "",
    responsible_id: Annotated[str, Form(max_length=64)] = "",
    company: Annotated[str, Form(max_length=500)] = "",
    contact_name: Annotated[str, Form(max_length=500)] = "",
    contact_email: Annotated[str, Form(max_length=500)] = "",
    contact_phone: Annotated[str, Form(max_length=200)] = "",
    # A browser sends each line break of a text area as two characters; the service counts one.
    notes: Annotated[str, Form(max_length=2 * crm.NOTES_LIMIT)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
) -> dict[str, Any]:
    """A lead form (a new lead or a change) as it was sent: what the form shows again if it is
    refused."""
    return {
        "title": title,
        "responsible_id": responsible_id,
        "company": company,
        "contact_name": contact_name,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "notes": notes,
        "status": status,
    }


LeadForm = Annotated[dict[str, Any], Depends(_lead_form)]


def _submit_lead(
    request: Request,
    session: Session,
    values: dict[str, Any],
    *,
    save: Callable[[dict[str, Any]], object],
    again: Callable[[dict[str, str], int], Response],
    done: str,
) -> Response:
    """A sent lead form (a new lead or a change): ``save`` the parsed fields and go back to the
    list, or show the form ``again`` with the reason beside its field and what was typed."""
    responsible = parse_uuid(values["responsible_id"])
    if responsible is None:
        return again({"responsible_id": "Pick who is responsible."}, 422)
    fields: dict[str, Any] = {name: values[name] for name in _LEAD_TEXT}
    fields["responsible_id"] = responsible
    if values["status"]:  # a form without the field leaves the status as it is (or new)
        try:
            fields["status"] = LeadStatus(values["status"])
        except ValueError:
            return again({"status": "Choose one of the offered statuses."}, 422)
    return _saved(request, session, fields, save=save, again=again, listing="/crm", done=done)


@router.post("/crm/leads")
def create_lead(request: Request, principal: WebUser, session: DB, values: LeadForm) -> Response:
    """Enter a lead with its contact and the person responsible for it."""

    def again(problems: dict[str, str], status_code: int) -> Response:
        return crm_page(
            request, principal, session, values=values, field_errors=problems, status_code=status_code
        )

    return _submit_lead(
        request,
        session,
        values,
        save=lambda fields: crm.create_lead(session, actor=principal.user, **fields),
        again=again,
        done="The lead is saved.",
    )


@router.post("/crm/leads/{lead_id}/status")
def set_lead_status(
    request: Request,
    principal: WebUser,
    session: DB,
    lead_id: uuid.UUID,
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    lead = crm.get_lead(session, principal.user, lead_id, for_update=True)
    try:
        new_status = LeadStatus(status)
        with session.begin_nested():
            crm.update_lead(session, lead, actor=principal.user, status=new_status)
    except ValueError:
        return redirect("/crm", request, "Choose one of the offered statuses.", "error")
    except errors.RosterError as exc:
        return redirect("/crm", request, exc.detail, "error")
    return redirect("/crm", request, f"“{lead.title}” is now {new_status.value}.")


def lead_edit_page(
    request: Request,
    principal: Principal,
    session: Session,
    lead: Lead,
    *,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if values is None:
        values = {name: getattr(lead, name) for name in _LEAD_TEXT}
        values.update(responsible_id=str(lead.responsible_id), status=lead.status)
    # The person responsible stays offered (and so stays responsible) even if they have left since.
    offered = _offered_with(session, principal, set(_ids([values["responsible_id"]])))
    return render(
        request,
        "intranet/lead_edit.html",
        {
            "section": "crm",
            "lead": lead,
            "values": values,
            "field_errors": field_errors or {},
            "statuses": [s.value for s in LeadStatus],
            "picker_people": offered,
            "may_delete": crm.can_delete_lead(principal.user, lead),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _changeable_lead(session: Session, principal: Principal, lead_id: uuid.UUID) -> Lead:
    lead = crm.get_lead(session, principal.user, lead_id, for_update=True)
    crm.require_can_change_lead(principal.user, lead)
    return lead


@router.get("/crm/leads/{lead_id}/edit")
def edit_lead_form(request: Request, principal: WebUser, session: DB, lead_id: uuid.UUID) -> Response:
    return lead_edit_page(request, principal, session, _changeable_lead(session, principal, lead_id))


@router.post("/crm/leads/{lead_id}/edit")
def edit_lead(
    request: Request, principal: WebUser, session: DB, lead_id: uuid.UUID, values: LeadForm
) -> Response:
    """Change every field of a lead; a refusal keeps what was typed."""
    lead = _changeable_lead(session, principal, lead_id)

    def again(problems: dict[str, str], status_code: int) -> Response:
        return lead_edit_page(
            request, principal, session, lead, values=values, field_errors=problems, status_code=status_code
        )

    return _submit_lead(
        request,
        session,
        values,
        save=lambda fields: crm.update_lead(session, lead, actor=principal.user, **fields),
        again=again,
        done="The lead is saved.",
    )


@router.get("/crm/leads/{lead_id}/delete")
def delete_lead_form(request: Request, principal: WebUser, session: DB, lead_id: uuid.UUID) -> Response:
    lead = crm.get_lead(session, principal.user, lead_id)
    crm.require_can_delete_lead(principal.user, lead)
    return confirm_delete_page(
        request,
        principal,
        session,
        section="crm",
        what="lead",
        title=lead.title,
        action=f"/crm/leads/{lead.id}/delete",
        cancel=f"/crm/leads/{lead.id}/edit",
        listing=("/crm", "CRM leads"),
        consequence="It leaves the CRM, with its contact and notes, for everyone in the organization.",
    )


@router.post("/crm/leads/{lead_id}/delete")
def delete_lead(request: Request, principal: WebUser, session: DB, lead_id: uuid.UUID) -> Response:
    """Move a lead to the trash (its creator or an admin), after its confirmation page."""
    try:
        lead = crm.get_lead(session, principal.user, lead_id, for_update=True)
    except errors.NotFound as exc:
        return deleted_already(request, session, principal.user, "lead", lead_id, "/crm", exc)
    title = lead.title
    try:
        with session.begin_nested():
            item = crm.delete_lead(session, lead, actor=principal.user)
    except errors.RosterError as exc:
        return redirect("/crm", request, exc.detail, "error")
    return moved_to_trash(request, item, f"“{title}”", "/crm")
