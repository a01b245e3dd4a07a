"""Departments, for admins: create, rename and delete them, and put people in them or take them
out. Everyone sees department names on people's cards and in the People filter; only admins come
here. Every action calls the same function as the API and SCIM Groups (and so is audited)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.directory import departments as depts
from roster.directory.models import Department
from roster.domain import errors
from roster.stream.service import load_users
from roster.web.core import WebAdmin, page_count, parse_uuid, redirect, render
from roster.web.pages.shared import picker_people

router = APIRouter(include_in_schema=False)

PER_PAGE = 100
MEMBERS_PER_PAGE = 50
NAME_LIMIT = 200  # departments._clean_name's rule


def _page(value: int) -> int:
    return max(1, min(value, 100_000))


def _members_phrase(counts: dict[str, int]) -> str:
    """ "3 people (1 dismissed)": how many a department holds, as the pages say it."""
    total = sum(counts.values())
    phrase = f"{total} {'person' if total == 1 else 'people'}"
    dismissed = counts.get("dismissed", 0)
    return f"{phrase} ({dismissed} dismissed)" if dismissed else phrase


def list_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    page: int = 1,
    name: str = "",
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    items, total = depts.list_departments(session, principal.org_id, page=page, per_page=PER_PAGE)
    counts = depts.count_department_members(session, principal.org_id, [d.id for d in items])
    parents = depts.get_department_names(
        session, principal.org_id, [d.parent_id for d in items if d.parent_id is not None]
    )
    rows = [
        {
            "department": d,
            "members": _members_phrase(counts.get(d.id, {})),
            "parent": parents.get(d.parent_id) if d.parent_id else None,
        }
        for d in items
    ]
    return render(
        request,
        "admin/departments.html",
        {
            "section": "departments",
            "rows": rows,
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "name": name,
            "field_errors": field_errors or {},
            "name_limit": NAME_LIMIT,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/admin/departments")
def departments(request: Request, principal: WebAdmin, session: DB, page: int = 1) -> Response:
    """Every department by name, with how many people each holds, and a form to create one."""
    return list_page(request, principal, session, page=_page(page))


@router.post("/admin/departments")
def create(
    request: Request,
    principal: WebAdmin,
    session: DB,
    name: Annotated[str, Form(max_length=NAME_LIMIT)] = "",
) -> Response:
    """Create a department; a refused name comes back in the form with the reason."""
    try:
        with session.begin_nested():
            department = depts.create_department(session, principal.org_id, actor=principal.user, name=name)
    except errors.RosterError as exc:
        return list_page(
            request, principal, session, name=name, field_errors={"name": exc.detail}, status_code=exc.status
        )
    return redirect(
        f"/admin/departments/{department.id}",
        request,
        f"The department {department.name} is created. Add its people below.",
    )


def department_page(
    request: Request,
    principal: Principal,
    session: Session,
    department: Department,
    *,
    page: int = 1,
    name: str | None = None,
    field_errors: dict[str, str] | None = None,
    selected: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    members, total = depts.list_department_members(
        session, department, include_inactive=True, page=page, per_page=MEMBERS_PER_PAGE
    )
    # The picker offers active people not in the department yet (the script searches everyone
    # active instead, and adding someone already in it changes nothing).
    present = {m.id for m in members}
    parent = (
        depts.get_department(session, principal.org_id, department.parent_id)
        if department.parent_id
        else None
    )
    head = (
        load_users(session, principal.org_id, {department.head_id}).get(department.head_id)
        if department.head_id
        else None
    )
    return render(
        request,
        "admin/department.html",
        {
            "section": "departments",
            "department": department,
            "parent": parent,
            "head": head,
            "members": members,
            "total": total,
            "page": page,
            "pages": page_count(total, MEMBERS_PER_PAGE),
            "name": department.name if name is None else name,
            "field_errors": field_errors or {},
            "selected": selected or [],
            "picker_people": [p for p in picker_people(session, principal) if p.id not in present],
            "name_limit": NAME_LIMIT,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/admin/departments/{department_id}")
def department(
    request: Request, principal: WebAdmin, session: DB, department_id: uuid.UUID, page: int = 1
) -> Response:
    """A department: its members (dismissed ones marked), add and remove, rename, delete."""
    found = depts.get_department(session, principal.org_id, department_id)
    return department_page(request, principal, session, found, page=_page(page))


@router.post("/admin/departments/{department_id}/rename")
def rename(
    request: Request,
    principal: WebAdmin,
    session: DB,
    department_id: uuid.UUID,
    name: Annotated[str, Form(max_length=NAME_LIMIT)] = "",
) -> Response:
    found = depts.get_department(session, principal.org_id, department_id)
    old = found.name
    try:
        with session.begin_nested():
            depts.update_department(session, found, actor=principal.user, name=name)
    except errors.RosterError as exc:
        session.refresh(found)
        return department_page(
            request,
            principal,
            session,
            found,
            name=name,
            field_errors={"name": exc.detail},
            status_code=exc.status,
        )
    back = f"/admin/departments/{found.id}"
    if found.name == old:
        return redirect(back, request, "The name is unchanged.", "info")
    return redirect(back, request, f"{old} is now called {found.name}.")


@router.post("/admin/departments/{department_id}/members")
def add_members(
    request: Request,
    principal: WebAdmin,
    session: DB,
    department_id: uuid.UUID,
    user_ids: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    """Put people in the department (all of them or nobody); people already in it stay."""
    found = depts.get_department(session, principal.org_id, department_id)
    wanted = list(dict.fromkeys(u for u in (parse_uuid(v) for v in user_ids) if u is not None))
    if not wanted:
        return department_page(
            request,
            principal,
            session,
            found,
            field_errors={"user_ids": "Pick at least one person to add."},
            status_code=422,
        )
    try:
        with session.begin_nested():
            added = depts.add_department_members(session, found, wanted, actor=principal.user)
    except errors.RosterError as exc:
        return department_page(
            request,
            principal,
            session,
            found,
            field_errors={"user_ids": f"Nobody was added. {exc.detail}"},
            selected=user_ids,
            status_code=exc.status,
        )
    back = f"/admin/departments/{found.id}"
    if not added:
        return redirect(back, request, f"They are in {found.name} already.", "info")
    names = _names(session, principal, added)
    return redirect(back, request, f"{names} {'is' if len(added) == 1 else 'are'} in {found.name} now.")


def _names(session: Session, principal: Principal, user_ids: list[uuid.UUID]) -> str:
    users = load_users(session, principal.org_id, set(user_ids))
    return ", ".join(users[i].display_name for i in user_ids if i in users)


@router.post("/admin/departments/{department_id}/members/{member_user_id}/remove")
def remove_member(
    request: Request,
    principal: WebAdmin,
    session: DB,
    department_id: uuid.UUID,
    member_user_id: uuid.UUID,
) -> Response:
    """Take someone out of the department; they stay in Roster (and in their other departments)."""
    found = depts.get_department(session, principal.org_id, department_id)
    back = f"/admin/departments/{found.id}"
    name = _names(session, principal, [member_user_id])
    if not depts.remove_department_members(session, found, [member_user_id], actor=principal.user):
        if not name:
            raise errors.NotFound("No such person.")
        return redirect(back, request, f"{name} is not in {found.name}.", "info")
    return redirect(back, request, f"{name} is no longer in {found.name}.")


def _deletion_context(session: Session, principal: Principal, department: Department) -> dict[str, Any]:
    counts = depts.count_department_members(session, principal.org_id, [department.id])[department.id]
    children, child_total = depts.list_departments(
        session, principal.org_id, parent_id=department.id, per_page=10
    )
    parent = (
        depts.get_department(session, principal.org_id, department.parent_id)
        if department.parent_id
        else None
    )
    return {
        "section": "departments",
        "department": department,
        "members": _members_phrase(counts),
        "member_total": sum(counts.values()),
        "dismissed": counts.get("dismissed", 0),
        "children": children,
        "child_total": child_total,
        "parent": parent,
    }


@router.get("/admin/departments/{department_id}/delete")
def delete_form(request: Request, principal: WebAdmin, session: DB, department_id: uuid.UUID) -> Response:
    """The "are you sure?" page: how many people the department holds and what happens to them."""
    found = depts.get_department(session, principal.org_id, department_id)
    return render(
        request,
        "admin/department_delete.html",
        _deletion_context(session, principal, found),
        principal=principal,
        session=session,
    )


@router.post("/admin/departments/{department_id}/delete")
def delete(request: Request, principal: WebAdmin, session: DB, department_id: uuid.UUID) -> Response:
    """Delete the department: its people stay in Roster, its sub-departments move up. Sent twice
    (a second tab, Back and the button again), it says the department is gone already."""
    try:
        found = depts.get_department(session, principal.org_id, department_id)
    except errors.NotFound:
        event = depts.find_deletion(session, principal.org_id, department_id)
        if event is None:
            raise
        who = event.actor_display or "someone"
        return redirect(
            "/admin/departments",
            request,
            f"The department {event.details.get('name', '')} was deleted already, by {who}.",
        )
    name = found.name
    depts.delete_department(session, found, actor=principal.user)
    return redirect(
        "/admin/departments", request, f"The department {name} is deleted. Its people are still in Roster."
    )
