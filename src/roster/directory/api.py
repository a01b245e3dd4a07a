"""Directory routes: people, search, autocomplete, profiles, photos, departments."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from roster import etags
from roster.accounts.deps import DB, AdminUser, AppSettings, CurrentUser, Principal, SignedIn
from roster.accounts.models import User
from roster.accounts.schemas import UserOut, user_out
from roster.cursors import MAX_CURSOR_LENGTH, decode_cursor
from roster.directory import departments as depts
from roster.directory import photos, search, service
from roster.directory.models import Department
from roster.directory.schemas import (
    DepartmentIn,
    DepartmentOut,
    DepartmentPatch,
    MembersIn,
    Page,
    PersonSuggestion,
    ProfilePatch,
    UserPage,
    department_out,
    person_suggestion,
)
from roster.domain import errors
from roster.locations import set_location

router = APIRouter(tags=["directory"])

PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]
StatusFilter = Literal["active", "dismissed", "deleted", "all"]


@router.get("/users", response_model=UserPage)
def list_users(
    request: Request,
    response: Response,
    principal: CurrentUser,
    session: DB,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: StatusFilter = "active",
    department_id: uuid.UUID | None = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    before: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
) -> UserPage:
    """The directory. Everyone sees active people; other statuses are for admins only.

    Paged by ``page``, or by cursor: ``after`` (the ``next`` of the page before) reads on from
    the name index however deep the list (a deep ``page`` walks every earlier person), and
    ``before`` (the ``prev`` of the page after) reads back. The pages next to this one are also
    in the ``Link`` header (``rel="next"``, ``rel="prev"``), always as cursors.
    """
    if status != "active" and not principal.is_admin:
        raise errors.Forbidden("Only an administrator may list people who are not active.")
    if after is not None and before is not None:
        raise errors.ValidationFailed("Page by `after` or by `before`, not both.", field="before")
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and page != 1:
            raise errors.ValidationFailed(f"Page by `page` or by `{name}`, not both.", field=name)
    shown = search.directory_page(
        session,
        principal.org_id,
        q=q,
        status=status,
        department_id=department_id,
        per_page=per_page,
        page=page,
        after=decode_cursor(after) if after is not None else None,
        before=decode_cursor(before, field="before") if before is not None else None,
    )
    users = shown.users
    next_cursor = search.cursor_of(users[-1]) if shown.more_after and users else None
    prev_cursor = search.cursor_of(users[0]) if shown.more_before and users else None
    links = []
    for rel, name, cursor in (("next", "after", next_cursor), ("prev", "before", prev_cursor)):
        if cursor is not None:
            there = request.url.remove_query_params(["page", "after", "before"]).include_query_params(
                **{name: cursor}
            )
            links.append(f'<{there}>; rel="{rel}"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return UserPage(items=[user_out(u) for u in users], total=shown.total, next=next_cursor, prev=prev_cursor)


@router.get("/users/autocomplete", response_model=list[PersonSuggestion])
async def autocomplete_users(
    caller: SignedIn,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=search.MAX_AUTOCOMPLETE)] = 10,
) -> list[PersonSuggestion]:
    """Active people for mentions, tags and pickers: prefix of first, last, display name or email.

    Called on every keystroke, so it does its work in one hand-over (see ``Caller``)."""

    def suggest(session: Session, principal: Principal) -> list[PersonSuggestion]:
        return [person_suggestion(p) for p in search.autocomplete_rows(session, principal.org_id, q, limit)]

    return await caller.run(suggest)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: uuid.UUID, principal: CurrentUser, session: DB) -> UserOut:
    """A person's profile. Employees see active people and themselves; admins see everyone."""
    return user_out(service.get_visible_user(session, principal.user, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def patch_user(user_id: uuid.UUID, body: ProfilePatch, principal: CurrentUser, session: DB) -> UserOut:
    """Edit a profile: one's own, or anyone's (and the role and the email) as an admin."""
    user = service.get_visible_user(session, principal.user, user_id)
    changes = body.model_dump(include=body.model_fields_set)
    return user_out(service.update_profile(session, user, actor=principal.user, changes=changes))


PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.put("/users/{user_id}/photo", response_model=UserOut, openapi_extra=PHOTO_BODY)
async def put_photo(
    user_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: DB,
    settings: AppSettings,
) -> UserOut:
    """Set a photo (multipart field ``file``: JPEG, PNG, WebP or GIF): the person, or an admin."""

    def target() -> User:
        user = service.get_visible_user(session, principal.user, user_id)
        photos.check_may_change_photo(session, user, principal.user)
        return user

    # Who and whether first, so nobody uploads megabytes only to be refused.
    user = await run_in_threadpool(target)
    data = await photos.read_upload(request, settings.max_photo_bytes)

    def store() -> UserOut:
        return user_out(photos.set_user_photo(session, user, data, actor=principal.user))

    return await run_in_threadpool(store)


@router.delete("/users/{user_id}/photo", response_model=UserOut)
def delete_photo(user_id: uuid.UUID, principal: CurrentUser, session: DB) -> UserOut:
    """Remove a photo; the initials avatar is shown instead."""
    user = service.get_visible_user(session, principal.user, user_id)
    return user_out(photos.remove_user_photo(session, user, actor=principal.user))


@router.get(
    "/users/{user_id}/photo",
    response_class=Response,
    responses={
        200: {
            "description": "The photo (JPEG), or the initials avatar (SVG) when there is none",
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
            },
        }
    },
)
def get_photo(
    user_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: DB,
    size: Annotated[int, Query(description="64 or 256")] = 256,
    v: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The photo as a square JPEG, or an initials avatar (SVG); with ETag and Cache-Control."""
    if size not in photos.SIZES:
        raise errors.ValidationFailed("size must be 64 or 256.", field="size")
    user = _photo_subject(session, principal, user_id)
    stored = photos.get_photo_bytes(session, user, size) if user is not None else None
    if stored is not None and user is not None:
        content, version = stored
        etag = f'"p-{user.id}-{version}-{size}"'
        # A URL that names the current version never changes: cache it for long.
        cache = "private, max-age=31536000, immutable" if v == version else "private, no-cache"
        media_type = "image/jpeg"
    else:
        initials = photos.initials_of(user.display_name) if user is not None else "?"
        content = photos.initials_avatar(str(user_id), initials, size)
        etag = '"a-' + hashlib.sha256(content).hexdigest()[:32] + '"'
        cache = "private, no-cache"
        media_type = "image/svg+xml"
    headers = {"ETag": etag, "Cache-Control": cache}
    if etags.none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(content=content, media_type=media_type, headers=headers)


def _photo_subject(session: Session, principal: Principal, user_id: uuid.UUID) -> User | None:
    """Whose picture to draw: None draws an anonymous avatar (a former employee whose name the
    organization hides, or a deleted person); unknown ids are 404."""
    user = service.get_user_any(session, principal.org_id, user_id)
    if service.can_see_user(principal.user, user):
        return user
    org = principal.organization(session)
    if user.status == "dismissed" and org.show_former_employee_names:
        return user
    return None


# Departments ---------------------------------------------------------------------------------


def _departments_out(session: Session, principal: Principal, items: list[Department]) -> list[DepartmentOut]:
    head_ids = {d.head_id for d in items if d.head_id is not None}
    heads: dict[uuid.UUID, User] = {}
    if head_ids:
        heads = {
            u.id: u
            for u in session.scalars(
                select(User).where(User.org_id == principal.org_id, User.id.in_(head_ids))
            )
        }
    show = principal.organization(session).show_former_employee_names

    def head_of(department: Department) -> User | None:
        head = heads.get(department.head_id) if department.head_id else None
        # Employees never meet people who are no longer active in the directory.
        if head is not None and not principal.is_admin and not head.is_active:
            return None
        return head

    return [department_out(d, head_of(d), show_former_names=show) for d in items]


@router.get("/departments", response_model=Page[DepartmentOut])
def list_departments(
    principal: CurrentUser,
    session: DB,
    name: Annotated[str | None, Query(max_length=200)] = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> Page[DepartmentOut]:
    """Every department, by name (``name``: case-insensitive equality)."""
    items, total = depts.list_departments(
        session, principal.org_id, name_filter=name, page=page, per_page=per_page
    )
    return Page[DepartmentOut](items=_departments_out(session, principal, items), total=total)


@router.post("/departments", response_model=DepartmentOut, status_code=status.HTTP_201_CREATED)
def create_department(
    body: DepartmentIn, request: Request, response: Response, principal: AdminUser, session: DB
) -> DepartmentOut:
    department = depts.create_department(
        session,
        principal.org_id,
        actor=principal.user,
        name=body.name,
        parent_id=body.parent_id,
        head_id=body.head_id,
        external_id=body.external_id,
    )
    set_location(request, response, f"/departments/{department.id}")
    return _departments_out(session, principal, [department])[0]


@router.get("/departments/{department_id}", response_model=DepartmentOut)
def get_department(department_id: uuid.UUID, principal: CurrentUser, session: DB) -> DepartmentOut:
    department = depts.get_department(session, principal.org_id, department_id)
    return _departments_out(session, principal, [department])[0]


@router.patch("/departments/{department_id}", response_model=DepartmentOut)
def patch_department(
    department_id: uuid.UUID, body: DepartmentPatch, principal: AdminUser, session: DB
) -> DepartmentOut:
    """Change what is sent; ``null`` clears the parent, head or external id."""
    department = depts.get_department(session, principal.org_id, department_id)
    sent = body.model_fields_set
    if "name" in sent and body.name is None:
        raise errors.ValidationFailed("The department name must not be empty.", field="name")
    depts.update_department(
        session,
        department,
        actor=principal.user,
        name=body.name if "name" in sent and body.name is not None else depts.UNSET,
        parent_id=body.parent_id if "parent_id" in sent else depts.UNSET,
        head_id=body.head_id if "head_id" in sent else depts.UNSET,
        external_id=body.external_id if "external_id" in sent else depts.UNSET,
    )
    return _departments_out(session, principal, [department])[0]


@router.delete("/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_department(department_id: uuid.UUID, principal: AdminUser, session: DB) -> Response:
    """Delete a department; sub-departments move up to its parent; members stay users."""
    department = depts.get_department(session, principal.org_id, department_id)
    depts.delete_department(session, department, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/departments/{department_id}/members", response_model=Page[UserOut])
def list_members(
    department_id: uuid.UUID,
    principal: CurrentUser,
    session: DB,
    status: Literal["active", "all"] = "active",
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> Page[UserOut]:
    """The department's members. Employees see active members; ``status=all`` is admin only."""
    if status != "active" and not principal.is_admin:
        raise errors.Forbidden("Only an administrator may list people who are not active.")
    department = depts.get_department(session, principal.org_id, department_id)
    users, total = depts.list_department_members(
        session, department, include_inactive=status == "all", page=page, per_page=per_page
    )
    return Page[UserOut](items=[user_out(u) for u in users], total=total)


@router.post("/departments/{department_id}/members", response_model=Page[UserOut])
def add_members(
    department_id: uuid.UUID, body: MembersIn, principal: AdminUser, session: DB
) -> Page[UserOut]:
    """Add active people to the department; answers the first page of its active members."""
    department = depts.get_department(session, principal.org_id, department_id)
    depts.add_department_members(session, department, body.user_ids, actor=principal.user)
    users, total = depts.list_department_members(session, department)
    return Page[UserOut](items=[user_out(u) for u in users], total=total)


@router.delete(
    "/departments/{department_id}/members/{member_user_id}", status_code=status.HTTP_204_NO_CONTENT
)
def remove_member(
    department_id: uuid.UUID, member_user_id: uuid.UUID, principal: AdminUser, session: DB
) -> Response:
    department = depts.get_department(session, principal.org_id, department_id)
    if not depts.remove_department_members(session, department, [member_user_id], actor=principal.user):
        raise errors.NotFound("That person is not a member of this department.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
