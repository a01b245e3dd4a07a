"""People: the directory for everyone; for admins the console with Invited, Dismissed and Deleted
tabs, invitations, dismiss and rehire, photos, and the profile card."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.accounts.models import User
from roster.accounts.service import get_system_user
from roster.cursors import decode_cursor
from roster.directory import departments, photos
from roster.directory.models import FORMER_PEOPLE
from roster.directory.search import (
    DirectoryPage,
    count_active_people,
    cursor_of,
    directory_page,
    search_users,
)
from roster.directory.service import get_user_any, get_visible_user, update_profile
from roster.domain import errors
from roster.domain.users import UserStatus
from roster.lifecycle import bulk, deletion, invitations
from roster.lifecycle.bulk import BulkAction
from roster.lifecycle.seats import SeatLedger, get_seat_ledger
from roster.lifecycle.users import dismiss_user, rehire_user
from roster.references import Disposition
from roster.web.core import (
    RefusedFor,
    WebAdmin,
    WebUser,
    app_settings,
    page_count,
    parse_uuid,
    redirect,
    referring_page,
    render,
    show_secret_once,
    take_secret,
)
from roster.web.pages.shared import picker_people, plan_name, unchanged_display_name_left_out

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
ADMIN_TABS = ("invited", "dismissed", "deleted")
MAX_BULK = 500


def seat_hint(seats: Mapping[str, Any]) -> str:
    """A seat refusal that says how to free one, in the pages' words instead of the API's, from
    the refusal's seat figures (``plan``, ``limit``, and ``active`` and ``pending_invitations`` when
    known): the plan named as the seat meter names it ("Free plan")."""
    reason = f"All {seats.get('limit')} seats of the {plan_name(str(seats.get('plan', '')))} are in use"
    active, pending = seats.get("active"), seats.get("pending_invitations")
    if active is not None and pending is not None:
        reason += f" ({active} active, {pending} pending invitation{'' if pending == 1 else 's'})"
    return (
        f"{reason}. To free a seat, revoke a pending invitation, dismiss someone who has left, "
        "or move to a larger plan in Settings."
    )


def no_seat_free(seats: SeatLedger) -> bool:
    """Every seat is taken, so an invitation or a rehire would be refused (a plan without a seat
    limit is never full)."""
    return seats.available is not None and seats.available <= 0


def seat_state(seats: SeatLedger) -> dict[str, Any]:
    """What the invite and rehire pages show of the seats: the meter, and when none is free, why
    (their submit buttons are off then; the server refuses regardless)."""
    full = no_seat_free(seats)
    return {"seats": seats, "no_seat_free": full, "no_seat_hint": seat_hint(seats.as_dict()) if full else ""}


def tab_counts(session: Session, principal: Principal) -> dict[str, int]:
    """How many people each tab lists: one COUNT each, without reading a page of each list. The
    people who left are counted together from their own index (``ix_users_former``, whose
    predicate the statement repeats word for word so that both databases use it)."""
    counts = {"active": count_active_people(session, principal.org_id)}
    if principal.is_admin:
        former = dict.fromkeys(("dismissed", "deleted"), 0)
        for status, count in session.execute(
            select(User.status, func.count())
            .where(User.org_id == principal.org_id, FORMER_PEOPLE, User.is_system == false())
            .group_by(User.status)
        ):
            if status in former:
                former[status] = int(count)
        counts.update(former)
        counts["invited"] = invitations.count_invitations(session, principal.org_id, status="pending")
    return counts


def people_context(session: Session, principal: Principal, tab: str) -> dict[str, Any]:
    return {
        "section": "people",
        "tab": tab,
        "counts": tab_counts(session, principal),
        "seats": get_seat_ledger(session, principal.org_id) if principal.is_admin else None,
    }


def _page(value: int) -> int:
    return max(1, min(value, 100_000))


@router.get("/people")
def people(
    request: Request,
    principal: WebUser,
    session: DB,
    q: str = "",
    department: str = "",
    page: int = 1,
    after: str = "",
    before: str = "",
) -> Response:
    """The directory: active colleagues, searchable by name or email, filterable by department.

    Next and Previous carry a cursor (the last or first person shown), so a deep page is read
    from the name index where it starts instead of walking every earlier person; ``page`` is then
    the number shown. A page typed by number, or a cursor that cannot be read, is read by number.
    """
    page = _page(page)
    department_id = parse_uuid(department)

    def read(**paging: Any) -> DirectoryPage:
        return directory_page(
            session,
            principal.org_id,
            q=q[:100] or None,
            status="active",
            department_id=department_id,
            per_page=PER_PAGE,
            **paging,
        )

    later, earlier = _cursor(after), _cursor(before)
    shown = read(after=later, before=earlier, page=page)
    if earlier is not None and later is None and not shown.more_before:
        # Nothing before these: this is the first page (people may have left since).
        page, earlier = 1, None
        shown = read(page=1)
    users, total, more = shown.users, shown.total, shown.more_after
    pages = page_count(total, PER_PAGE)
    if later is not None or earlier is not None:
        # The number a cursor's link carries is what the page is called; the count keeps up with it.
        pages = max(pages, page + 1 if more else page)
    query = {"q": q, "department": str(department_id or "")}
    next_url = prev_url = None
    if more and users:
        next_url = "?" + urlencode({**query, "page": page + 1, "after": cursor_of(users[-1])})
    if page > 2 and users:
        prev_url = "?" + urlencode({**query, "page": page - 1, "before": cursor_of(users[0])})
    elif page > 1:
        prev_url = "?" + urlencode({**query, "page": page - 1})
    depts, _ = departments.list_departments(session, principal.org_id, per_page=200)
    return render(
        request,
        "people/list.html",
        {
            **people_context(session, principal, "active"),
            "users": users,
            "total": total,
            "q": q,
            "department": department_id,
            "departments": depts,
            "page": page,
            "pages": pages,
            "next_url": next_url,
            "prev_url": prev_url,
        },
        principal=principal,
        session=session,
    )


def _cursor(value: str) -> tuple[str, uuid.UUID] | None:
    """The position a Next or Previous link carries, or None (none given, or not one of ours)."""
    if not value:
        return None
    try:
        return decode_cursor(value)
    except errors.ValidationFailed:
        return None


@router.get("/people/invited")
def invited(request: Request, principal: WebAdmin, session: DB, page: int = 1) -> Response:
    page = _page(page)
    items, total = invitations.list_invitations(
        session, principal.org_id, status="pending", page=page, per_page=PER_PAGE
    )
    resent_email, _, resent_url = take_secret(request, principal).partition(" ")
    return render(
        request,
        "people/invited.html",
        {
            **people_context(session, principal, "invited"),
            "resent": {"email": resent_email, "url": resent_url} if resent_url else None,
            "invitations": items,
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
        },
        principal=principal,
        session=session,
    )


@router.get("/people/dismissed")
def dismissed(request: Request, principal: WebAdmin, session: DB, q: str = "", page: int = 1) -> Response:
    page = _page(page)
    users, total = search_users(
        session, principal.org_id, q=q[:100] or None, status="dismissed", page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "people/dismissed.html",
        {
            **people_context(session, principal, "dismissed"),
            "users": users,
            "total": total,
            "q": q,
            "page": page,
            "pages": page_count(total, PER_PAGE),
        },
        principal=principal,
        session=session,
    )


@router.get("/people/deleted")
def deleted(request: Request, principal: WebAdmin, session: DB, q: str = "", page: int = 1) -> Response:
    page = _page(page)
    users, total = search_users(
        session, principal.org_id, q=q[:100] or None, status="deleted", page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "people/deleted.html",
        {
            **people_context(session, principal, "deleted"),
            "system_user": get_system_user(session, principal.org_id),
            "users": users,
            "total": total,
            "q": q,
            "page": page,
            "pages": page_count(total, PER_PAGE),
        },
        principal=principal,
        session=session,
    )


# --- Invitations ----------------------------------------------------------------------------


def invite_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    bulk: dict[str, Any] | None = None,
    bulk_text: str = "",
    bulk_role: str = "employee",
    created: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    context = people_context(session, principal, "invite")
    return render(
        request,
        "people/invite.html",
        {
            **context,
            **seat_state(context["seats"]),
            "section": "invite",
            "values": values or {"role": "employee"},
            "error": error,
            "field_errors": field_errors or {},
            "bulk": bulk,
            "bulk_text": bulk_text,
            "bulk_role": bulk_role,
            "created": created or [],
            "departments": departments.list_departments(session, principal.org_id, per_page=200)[0],
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/invite")
def invite_form(request: Request, principal: WebAdmin, session: DB) -> Response:
    return invite_page(request, principal, session)


def _refusal(exc: errors.RosterError) -> dict[str, Any]:
    """A refused invitation, explained: why, and what to do about it."""
    refusal: dict[str, Any] = {"title": exc.title, "detail": exc.detail, "code": exc.code}
    if isinstance(exc, errors.SeatLimitReached):
        refusal["title"] = "All seats are taken"
        refusal["detail"] = seat_hint(exc.extra)
    elif isinstance(exc, errors.EmailBelongsToDismissedUser):
        refusal["title"] = "This person worked here before"
        refusal["rehire_user_id"] = exc.extra.get("user_id")
    elif isinstance(exc, errors.EmailInUse):
        refusal["resend_invitation_id"] = exc.extra.get("invitation_id")
        # An active account has it: a duplicate or a test account, perhaps, to delete first.
        refusal["holder_user_id"] = exc.extra.get("user_id")
    return refusal


@router.post("/people/invite")
def invite(
    request: Request,
    principal: WebAdmin,
    session: DB,
    email: Annotated[str, Form(max_length=320)] = "",
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    position: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "employee",
    department_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Invite one person; the refusal, if any, says why and how to free a seat."""
    values = {
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "position": position,
        "role": role,
        "department_id": department_id,
    }
    department = parse_uuid(department_id)
    if department_id.strip() and department is None:
        return invite_page(
            request,
            principal,
            session,
            values=values,
            field_errors={"department_id": "Choose a department from the list."},
            status_code=422,
        )
    if not email.strip():
        return invite_page(
            request,
            principal,
            session,
            values=values,
            field_errors={"email": "Enter the email address of the person to invite."},
            status_code=422,
        )
    try:
        with session.begin_nested():
            invitation, url = invitations.invite_user(
                session,
                principal.org_id,
                actor=principal.user,
                email=email,
                role=role,
                first_name=first_name,
                last_name=last_name,
                position=position,
                department_id=department,
                settings=app_settings(request),
            )
    except errors.InvalidEmail as exc:
        return invite_page(
            request, principal, session, values=values, field_errors={"email": exc.detail}, status_code=422
        )
    except errors.RosterError as exc:
        if exc.extra.get("field") != "department_id":
            return invite_page(
                request, principal, session, values=values, error=_refusal(exc), status_code=exc.status
            )
        # Deleted meanwhile: the list is read again, without it.
        values["department_id"] = ""
        return invite_page(
            request,
            principal,
            session,
            values=values,
            field_errors={"department_id": "That department no longer exists; choose another."},
            status_code=422,
        )
    return invite_page(
        request,
        principal,
        session,
        created=[{"email": invitation.email, "url": url}],
    )


def _split_emails(text: str) -> list[str]:
    """The pasted addresses in order, each once: a list put together from two places often names
    someone twice, and the second would fail as "pending, resend it", whose resend kills the link
    just shown."""
    seen: set[str] = set()
    parts = []
    for part in re.split(r"[\s,;]+", text):
        if part and part.casefold() not in seen:
            seen.add(part.casefold())
            parts.append(part)
    return parts


@router.post("/people/invite/bulk")
def invite_bulk(
    request: Request,
    principal: WebAdmin,
    session: DB,
    emails: Annotated[str, Form(max_length=100_000)] = "",
    role: Annotated[str, Form(max_length=20)] = "employee",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Invite many: a pasted list of addresses, or a CSV (email,first_name,last_name,position,department)."""
    rows: list[Any] = []
    if file is not None and file.filename:
        limit = min(app_settings(request).max_upload_bytes, invitations.CSV_MAX_BYTES)
        try:
            data = photos.read_limited(file.file, limit, what="The CSV file")
            rows = list(invitations.parse_invitation_csv(data))
        except errors.RosterError as exc:
            return invite_page(
                request,
                principal,
                session,
                bulk_text=emails,
                bulk_role=role,
                error={"title": "The CSV file could not be read", "detail": exc.detail},
                status_code=exc.status,
            )
    rows += _split_emails(emails)
    if not rows:
        return invite_page(
            request,
            principal,
            session,
            bulk_text=emails,
            bulk_role=role,
            field_errors={"emails": "Paste at least one email address, or choose a CSV file."},
            status_code=422,
        )
    if len(rows) > MAX_BULK:
        return invite_page(
            request,
            principal,
            session,
            bulk_text=emails,
            bulk_role=role,
            field_errors={"emails": f"Invite at most {MAX_BULK} people at once."},
            status_code=422,
        )
    result = invitations.invite_many(
        session, principal.org_id, actor=principal.user, rows=rows, role=role, settings=app_settings(request)
    )
    failed = []
    full = ""  # the seat refusal, explained once above the rows it stopped
    for item in result.failed:
        detail = str(item.get("detail", ""))
        if item.get("code") == "seat_limit_reached":
            full = full or seat_hint(item)
            detail = "No seat was left."
        failed.append(
            {
                "email": item.get("email", ""),
                "code": item.get("code", ""),
                "detail": detail,
                "user_id": item.get("user_id"),
                "invitation_id": item.get("invitation_id"),
            }
        )
    # The pasted addresses that were not invited stay in the box, with the role, to be corrected
    # and sent again (those invited are left out: sending them again would only be refused).
    pasted = set(_split_emails(emails))
    retry = [str(f["email"]) for f in failed if f["email"] in pasted]
    return invite_page(
        request,
        principal,
        session,
        created=[{"email": inv.email, "url": url} for inv, url in result.created],
        bulk={
            "failed": failed,
            "created": len(result.created),
            "seat_hint": full,
            "kept": bool(retry),
            # Named once above the rows: the departments the file names that do not exist.
            "missing_departments": sorted(
                {str(f["department"]) for f in result.failed if f.get("code") == "unknown_department"}
            ),
        },
        bulk_text="\n".join(dict.fromkeys(retry)),
        bulk_role=role,
    )


@router.post("/people/invitations/{invitation_id}/resend")
def resend(request: Request, principal: WebAdmin, session: DB, invitation_id: uuid.UUID) -> Response:
    invitation = invitations.get_invitation(session, principal.org_id, invitation_id)
    try:
        with session.begin_nested():
            _, url = invitations.resend_invitation(
                session, invitation, actor=principal.user, settings=app_settings(request)
            )
    except errors.RosterError as exc:
        return redirect("/people/invited", request, exc.detail, "error")
    response = redirect(
        "/people/invited",
        request,
        f"A new invitation is on its way to {invitation.email}; the link sent before no longer works.",
    )
    # The new link, for admins who share links themselves: shown once, on the next page only.
    return show_secret_once(response, request, principal, f"{invitation.email} {url}", path="/people/invited")


@router.post("/people/invitations/{invitation_id}/revoke")
def revoke(request: Request, principal: WebAdmin, session: DB, invitation_id: uuid.UUID) -> Response:
    invitation = invitations.get_invitation(session, principal.org_id, invitation_id)
    try:
        with session.begin_nested():
            invitations.revoke_invitation(session, invitation, actor=principal.user)
    except errors.RosterError as exc:
        return redirect("/people/invited", request, exc.detail, "error")
    return redirect(
        "/people/invited", request, f"The invitation of {invitation.email} is revoked and its seat is free."
    )


# --- A person -------------------------------------------------------------------------------


# --- Bulk dismiss and delete ----------------------------------------------------------------
# Defined before /people/{user_id}/..., whose paths would take "bulk" for an id.

BulkIds = Annotated[list[str] | None, Query(max_length=bulk.MAX_BULK_USERS * 5)]
BulkFormIds = Annotated[list[str] | None, Form(max_length=bulk.MAX_BULK_USERS * 5)]
BULK_PAST = {BulkAction.DISMISS: "dismissed", BulkAction.DELETE: "deleted"}


def _bulk_ids(values: list[str] | None) -> list[uuid.UUID]:
    """The ids chosen, each once; what is not an id names no one and is left out."""
    return list(dict.fromkeys(i for i in (parse_uuid(v[:64]) for v in values or []) if i is not None))


def _no_selection(request: Request, ids: list[uuid.UUID]) -> Response | None:
    """Back to the list with a message when nothing, or more than a bulk action takes, is chosen."""
    if ids and len(ids) <= bulk.MAX_BULK_USERS:
        return None
    message = (
        "Choose the people first: tick the box beside each one."
        if not ids
        else f"At most {bulk.MAX_BULK_USERS} people can be chosen at once; {len(ids)} were."
    )
    return redirect(referring_page(request) or "/people", request, message, "error")


def _summed_preview(session: Session, people: list[User]) -> list[dict[str, Any]]:
    """What deleting all of ``people`` touches, per kind, summed over them."""
    if not people:
        return []
    items = deletion.reference_counts(session, people[0].org_id, [user.id for user in people])
    return [
        {"label": item.label, "count": item.count, "in_trash": item.in_trash}
        for item in items
        if item.count or item.in_trash
    ]


def bulk_review_page(
    request: Request,
    principal: Principal,
    session: Session,
    action: BulkAction,
    ids: list[uuid.UUID],
    *,
    reason: str = "",
    confirm: str = "",
    default: str = "system_user",
    successor_id: str = "",
    error: str = "",
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The review of a bulk action: who it acts on, who it leaves out and why, and for a deletion
    what it touches, where that goes and the number to type."""
    check = bulk.check_people(session, ids, actor=principal.user, action=action)
    chosen = {u.id for u in check.people} | {r.user_id for r in check.refused}
    return render(
        request,
        "people/bulk.html",
        {
            "section": "people",
            "action": action.value,
            "past": BULK_PAST[action],
            "people": check.people,
            "refused": check.refused,
            "summary": _summed_preview(session, check.people) if action is BulkAction.DELETE else [],
            "picker_people": [u for u in picker_people(session, principal) if u.id not in chosen],
            "back": "/people"
            if any(u.status == UserStatus.ACTIVE.value for u in check.people) or not check.people
            else "/people/dismissed",
            "reason": reason,
            "confirm": confirm,
            "default": default if default in ("system_user", "successor") else "system_user",
            "successor_id": successor_id,
            "error": error,
            "field_errors": field_errors or {},
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _stale(exc: errors.BulkRefused, action: BulkAction) -> str:
    n = len(exc.extra.get("refused", []))
    return (
        f"{n} of the people you chose cannot be {BULK_PAST[action]} any more (someone changed them "
        "meanwhile); they are marked below and left out. Nothing was done: check the list and confirm again."
    )


@router.get("/people/bulk/dismiss")
def bulk_dismiss_review(
    request: Request, principal: WebAdmin, session: DB, user_id: BulkIds = None
) -> Response:
    """Review a dismissal of the people chosen on the list (changes nothing)."""
    ids = _bulk_ids(user_id)
    if refused := _no_selection(request, ids):
        return refused
    return bulk_review_page(request, principal, session, BulkAction.DISMISS, ids)


@router.post("/people/bulk/dismiss")
def bulk_dismiss(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: BulkFormIds = None,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Dismiss every person reviewed, or none."""
    ids = _bulk_ids(user_id)
    if refused := _no_selection(request, ids):
        return refused
    try:
        with session.begin_nested():
            done = bulk.dismiss_users(session, ids, actor=principal.user, reason=reason.strip() or None)
    except errors.BulkRefused as exc:
        return bulk_review_page(
            request,
            principal,
            session,
            BulkAction.DISMISS,
            ids,
            reason=reason,
            error=_stale(exc, BulkAction.DISMISS),
            status_code=exc.status,
        )
    except errors.RosterError as exc:
        problems = {"reason": exc.detail} if exc.extra.get("field") == "reason" else {}
        return bulk_review_page(
            request,
            principal,
            session,
            BulkAction.DISMISS,
            ids,
            reason=reason,
            error="" if problems else exc.detail,
            field_errors=problems,
            status_code=exc.status,
        )
    n = len(done)
    return redirect(
        _bulk_done_url(BulkAction.DISMISS, done),
        request,
        f"{n} {'person is' if n == 1 else 'people are'} dismissed and signed out everywhere. "
        "Their seats are free; their work stays.",
    )


@router.get("/people/bulk/delete")
def bulk_delete_review(
    request: Request, principal: WebAdmin, session: DB, user_id: BulkIds = None
) -> Response:
    """Review a deletion of the people chosen on the list: what it touches, where it goes, and the
    number to type (changes nothing)."""
    ids = _bulk_ids(user_id)
    if refused := _no_selection(request, ids):
        return refused
    return bulk_review_page(request, principal, session, BulkAction.DELETE, ids)


@router.post("/people/bulk/delete")
def bulk_delete(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: BulkFormIds = None,
    confirm: Annotated[str, Form(max_length=20)] = "",
    default: Annotated[str, Form(max_length=20)] = "system_user",
    successor_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Delete every person reviewed (each restorable on their own), or none."""
    ids = _bulk_ids(user_id)
    if refused := _no_selection(request, ids):
        return refused

    def review(
        *, error: str = "", problems: dict[str, str] | None = None, status_code: int, typed: str = confirm
    ) -> Response:
        return bulk_review_page(
            request,
            principal,
            session,
            BulkAction.DELETE,
            ids,
            confirm=typed,
            default=default,
            successor_id=successor_id,
            error=error,
            field_errors=problems,
            status_code=status_code,
        )

    if default not in ("system_user", "successor"):
        return review(problems={"default": "Choose the System User or one successor."}, status_code=422)
    if default == "successor" and parse_uuid(successor_id) is None:
        return review(
            problems={
                "successor_id": "Pick the colleague who takes over their work, or choose the System User."
            },
            status_code=422,
        )
    successor = parse_uuid(successor_id) if default == "successor" else None
    plan = deletion.DispositionPlan(default=Disposition(default), successor_id=successor)
    try:
        with session.begin_nested():
            done = bulk.delete_users(session, ids, actor=principal.user, confirm=confirm, disposition=plan)
    except errors.ConfirmationMismatch:
        return review(
            problems={"confirm": f"Type {len(ids)} to confirm: the number of people being deleted."},
            status_code=422,
        )
    except errors.BulkRefused as exc:
        # The number to type has changed with the people left out.
        return review(error=_stale(exc, BulkAction.DELETE), status_code=exc.status, typed="")
    except errors.RosterError as exc:
        if exc.extra.get("field") == "disposition.successor_id":
            return review(problems={"successor_id": exc.detail}, status_code=exc.status)
        return review(error=exc.detail, status_code=exc.status)
    n = len(done)
    return redirect(
        _bulk_done_url(BulkAction.DELETE, [r.user for r in done]),
        request,
        f"{n} {'person is' if n == 1 else 'people are'} deleted; each can be restored on their own from "
        "the Deleted tab.",
    )


def _bulk_done_url(action: BulkAction, people: list[User]) -> str:
    return "/people/bulk/done?" + urlencode(
        [("action", action.value)] + [("user_id", str(u.id)) for u in people]
    )


@router.get("/people/bulk/done")
def bulk_done(
    request: Request,
    principal: WebAdmin,
    session: DB,
    action: str = "",
    user_id: BulkIds = None,
) -> Response:
    """After a bulk action: each person it acted on, as they are now, with a link to their card."""
    ids = _bulk_ids(user_id)[: bulk.MAX_BULK_USERS]
    found = (
        {
            u.id: u
            for u in session.scalars(select(User).where(User.org_id == principal.org_id, User.id.in_(ids)))
        }
        if ids
        else {}
    )
    people = [found[i] for i in ids if i in found and not found[i].is_system]
    if not people or action not in ("dismiss", "delete"):
        return redirect("/people", request)
    return render(
        request,
        "people/bulk_done.html",
        {"section": "people", "action": action, "past": BULK_PAST[BulkAction(action)], "people": people},
        principal=principal,
        session=session,
    )


@router.get("/people/{user_id}")
def profile_card(request: Request, principal: WebUser, session: DB, user_id: uuid.UUID) -> Response:
    """A person's card: what colleagues see; admins also get the actions."""
    user = get_visible_user(session, principal.user, user_id)
    # The System User holds deleted people's memberships (for a restore) but belongs to no team,
    # as the departments' own member lists say.
    dept_ids = [] if user.is_system else departments.list_user_department_ids(session, user)
    depts = [departments.get_department(session, principal.org_id, d) for d in dept_ids]
    org = principal.organization(session)
    manager, reports, more_reports = _reporting_line(session, principal, user)
    return render(
        request,
        "people/card.html",
        {
            "section": "people",
            "person": user,
            "departments": depts,
            # What the identity provider calls their department, while Roster has them in none.
            "idp_department": None if depts or user.is_system else user.scim_department,
            "manager": manager,
            "reports": reports,
            "more_reports": more_reports,
            "may_change_photo": photos.may_change_photo(principal.user, user, org) and not user.is_system,
        },
        principal=principal,
        session=session,
    )


REPORTS_SHOWN = 50


def _reporting_line(
    session: Session, principal: Principal, user: User
) -> tuple[User | None, list[User], int]:
    """The person's manager (as the identity provider set it) and their direct reports, as the
    viewer may see them: active colleagues, and for admins also dismissed ones; never the System
    User, which holds a deleted manager's place only for a restore. The reports are the first
    ``REPORTS_SHOWN`` by name, with how many more there are. The System User has no reporting
    line: those it stands in for as a manager are no reports of its own."""
    if user.is_system:
        return None, [], 0
    seen = ["active", "dismissed"] if principal.user.is_admin else ["active"]
    manager = None
    if user.manager_id is not None:
        found = session.get(User, (principal.org_id, user.manager_id))
        if found is not None and not found.is_system and found.status in seen:
            manager = found
    theirs = (
        User.org_id == principal.org_id,
        User.manager_id == user.id,
        User.status.in_(seen),
        User.is_system.is_(False),
    )
    reports = list(
        session.scalars(
            select(User).where(*theirs).order_by(User.display_name, User.id).limit(REPORTS_SHOWN + 1)
        )
    )
    more = 0
    if len(reports) > REPORTS_SHOWN:
        total = int(session.scalar(select(func.count()).select_from(User).where(*theirs)) or 0)
        more = total - REPORTS_SHOWN
        reports = reports[:REPORTS_SHOWN]
    return manager, reports, more


def _target(session: Session, principal: Principal, user_id: uuid.UUID) -> User:
    return get_user_any(session, principal.org_id, user_id)


EDIT_FIELDS = ("first_name", "last_name", "display_name", "position", "email", "role")


def edit_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    *,
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "people/edit.html",
        {
            "section": "people",
            "person": user,
            "values": values or {name: str(getattr(user, name) or "") for name in EDIT_FIELDS},
            "field_errors": field_errors or {},
            "error": error,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _editable(session: Session, principal: Principal, user_id: uuid.UUID) -> User:
    """The person an admin's edit form is for: not the System User, not someone deleted."""
    user = _target(session, principal, user_id)
    if user.is_system:
        raise RefusedFor(errors.SystemUserImmutable("The System User's profile cannot be changed."), user)
    if user.status == "deleted":
        raise RefusedFor(
            errors.InvalidTransition(
                f"{user.display_name} is deleted; restore them before changing their profile."
            ),
            user,
        )
    return user


@router.get("/people/{user_id}/edit")
def edit_form(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    """An admin edits someone's name, position, role and email."""
    return edit_page(request, principal, session, _editable(session, principal, user_id))


@router.post("/people/{user_id}/edit")
def edit(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    first_name: Annotated[str, Form(max_length=100)] = "",
    last_name: Annotated[str, Form(max_length=100)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    position: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Save an admin's changes to someone's profile (the API's PATCH /users/{id})."""
    user = _editable(session, principal, user_id)
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "display_name": display_name,
        "position": position,
        "email": email,
        "role": role,
    }
    changes = unchanged_display_name_left_out(
        user, {k: v for k, v in values.items() if k not in ("email", "role")}
    )
    if email.strip():
        changes["email"] = email
    else:
        return edit_page(
            request,
            principal,
            session,
            user,
            values=values,
            field_errors={"email": "Enter their email address: they sign in with it."},
            status_code=422,
        )
    if role:
        if role not in ("admin", "employee"):
            return edit_page(
                request,
                principal,
                session,
                user,
                values=values,
                field_errors={"role": "Choose Employee or Administrator."},
                status_code=422,
            )
        changes["role"] = role
    try:
        with session.begin_nested():
            update_profile(session, user, actor=principal.user, changes=changes)
    except errors.LastAdmin as exc:
        session.refresh(user)
        return edit_page(
            request,
            principal,
            session,
            user,
            values=values,
            field_errors={
                "role": f"{user.display_name} is the only administrator. {exc.detail} Nothing was saved."
            },
            status_code=exc.status,
        )
    except errors.RosterError as exc:
        session.refresh(user)
        field = str(exc.extra.get("field") or "")
        field_errors: dict[str, str] = {}
        error: dict[str, Any] | None = None
        if isinstance(exc, errors.EmailBelongsToDismissedUser):
            field_errors["email"] = (
                "This address belongs to a dismissed person. Choose another address, or change theirs first."
            )
            error = {"holder_id": exc.extra.get("user_id")}
        elif isinstance(exc, errors.EmailInUse) and exc.extra.get("invitation_id"):
            field_errors["email"] = (
                "A pending invitation is for this address. Choose another address, or revoke that "
                "invitation first (People, Invited)."
            )
        elif isinstance(exc, errors.EmailInUse):
            field_errors["email"] = f"{exc.detail} Choose another address, or change or free that one first."
        elif field in values:
            field_errors[field] = exc.detail
        else:
            error = {"title": exc.title, "detail": exc.detail}
        return edit_page(
            request,
            principal,
            session,
            user,
            values=values,
            field_errors=field_errors,
            error=error,
            status_code=exc.status,
        )
    return redirect(f"/people/{user.id}", request, f"{user.display_name}'s profile is saved.")


def confirm_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    action: str,
    *,
    error: str = "",
    seat_refused: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "people/confirm.html",
        {
            "section": "people",
            "person": user,
            "action": action,
            "error": error,
            "seat_refused": seat_refused,
            **seat_state(get_seat_ledger(session, principal.org_id)),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/{user_id}/dismiss")
def dismiss_form(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    user = _target(session, principal, user_id)
    # Forms that could only end in a refusal are refused at once.
    if user.is_system:
        raise RefusedFor(errors.SystemUserImmutable("The System User cannot be dismissed."), user)
    if user.id == principal.user.id:
        raise RefusedFor(
            errors.CannotActOnSelf("You cannot dismiss your own account; ask another administrator."), user
        )
    if user.status != UserStatus.ACTIVE.value:
        # Back after dismissing (or a second tab) comes here: say so, rather than offer it again.
        return redirect(
            f"/people/{user.id}", request, f"{user.display_name} is {user.status} already.", "info"
        )
    return confirm_page(request, principal, session, user, "dismiss")


@router.post("/people/{user_id}/dismiss")
def dismiss(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Dismiss: every session ends at once, the seat is freed, the work stays theirs."""
    user = _target(session, principal, user_id)
    try:
        with session.begin_nested():
            dismiss_user(session, user, actor=principal.user, reason=reason.strip() or None)
    except errors.RosterError as exc:
        return confirm_page(
            request, principal, session, user, "dismiss", error=exc.detail, status_code=exc.status
        )
    return redirect(
        "/people/dismissed",
        request,
        f"{user.display_name} is dismissed and signed out everywhere. Their seat is free; their work stays.",
    )


@router.get("/people/{user_id}/rehire")
def rehire_form(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    user = _target(session, principal, user_id)
    if user.status == UserStatus.ACTIVE.value:
        return redirect(f"/people/{user.id}", request, f"{user.display_name} is active already.", "info")
    return confirm_page(request, principal, session, user, "rehire")


@router.post("/people/{user_id}/rehire")
def rehire(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    """Rehire a dismissed person: they take a seat again and can sign in."""
    user = _target(session, principal, user_id)
    try:
        with session.begin_nested():
            rehire_user(session, user, actor=principal.user)
    except errors.SeatLimitReached as exc:
        return confirm_page(
            request,
            principal,
            session,
            user,
            "rehire",
            error=seat_hint(exc.extra),
            seat_refused=True,
            status_code=exc.status,
        )
    except errors.RosterError as exc:
        return confirm_page(
            request, principal, session, user, "rehire", error=exc.detail, status_code=exc.status
        )
    return redirect(
        f"/people/{user.id}", request, f"Welcome back, {user.display_name}: they can sign in again."
    )


@router.post("/people/{user_id}/photo")
def set_photo(
    request: Request,
    principal: WebUser,
    session: DB,
    user_id: uuid.UUID,
    file: Annotated[UploadFile | None, File()] = None,
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Upload a photo: your own, or (admins) anyone's."""
    user = get_visible_user(session, principal.user, user_id)
    target = "/profile" if back == "profile" else f"/people/{user.id}"
    if file is None or not file.filename:
        return redirect(target, request, "Choose a picture first.", "error")
    try:
        data = photos.read_limited(file.file, app_settings(request).max_photo_bytes)
        with session.begin_nested():
            photos.set_user_photo(session, user, data, actor=principal.user)
    except errors.RosterError as exc:
        return redirect(target, request, f"The photo was not changed: {exc.detail}", "error")
    return redirect(target, request, "The new photo is in place.")


@router.post("/people/{user_id}/photo/remove")
def remove_photo(
    request: Request,
    principal: WebUser,
    session: DB,
    user_id: uuid.UUID,
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    user = get_visible_user(session, principal.user, user_id)
    target = "/profile" if back == "profile" else f"/people/{user.id}"
    try:
        with session.begin_nested():
            photos.remove_user_photo(session, user, actor=principal.user)
    except errors.RosterError as exc:
        return redirect(target, request, f"The photo was not removed: {exc.detail}", "error")
    return redirect(target, request, "The photo is removed; initials show instead.")
