"""The delete wizard (preview -> disposition per kind -> type the email -> result with Restore),
merge duplicates, erase, restore, and the authorship map."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.accounts.models import User
from roster.accounts.service import get_named_user, get_system_user
from roster.directory.service import get_user_any
from roster.domain import errors
from roster.lifecycle import deletion
from roster.lifecycle.deletion_models import OperationKind
from roster.references import Disposition, Meaning, get_reference
from roster.web.core import FlashAction, RefusedFor, WebAdmin, page_count, parse_uuid, redirect, render
from roster.web.pages.moved_items import describe_moved
from roster.web.pages.shared import names_apart, picker_people

router = APIRouter(include_in_schema=False)

DISPOSITION_LABELS = {
    "system_user": "System User",
    "successor": "Successor",
    "delete": "Delete",
}
KIND_PREFIX = "kind:"
AUTHORSHIP_PER_PAGE = 100


def _target(session: Session, principal: Principal, user_id: uuid.UUID) -> User:
    return get_user_any(session, principal.org_id, user_id)


def _removable(session: Session, principal: Principal, user_id: uuid.UUID) -> User:
    """The person a delete, merge or erase form is for: never the System User or the admin
    themselves, whose forms could only end in that refusal (what they hold can still be handed
    on: transfer)."""
    user = _target(session, principal, user_id)
    if user.is_system:
        raise RefusedFor(
            errors.SystemUserImmutable("The System User cannot be deleted, merged or erased."), user
        )
    if user.id == principal.user.id:
        raise RefusedFor(
            errors.CannotActOnSelf(
                "You cannot delete, merge or erase your own account; ask another administrator."
            ),
            user,
        )
    return user


def _gone_already(request: Request, user: User) -> Response | None:
    """A delete, merge or erase form for someone it was done to already (sent again from a second
    tab, or Back): to their card, which says what can still be done (Restore, Erase), instead of a
    form that could only be refused again."""
    if user.status != "deleted":
        return None
    done = "erased" if user.email is None else "deleted"
    return redirect(f"/people/{user.id}", request, f"{user.display_name} is already {done}.", "info")


def _successors(session: Session, principal: Principal, user: User) -> list[User]:
    return [u for u in picker_people(session, principal) if u.id != user.id]


def _recipient_problem(
    session: Session, user: User, raw_id: str, *, field: str, self_message: str
) -> dict[str, str]:
    """The refusal, beside its picker, of the person picked to take over ``user``'s work: never
    ``user`` themself (``self_message``), and only an active colleague. Empty when they may."""
    recipient_id = parse_uuid(raw_id)
    if recipient_id is None:
        return {}
    try:
        deletion.check_recipient(session, user, recipient_id, field_name=field)
    except errors.InvalidSuccessor:
        return {field: self_message}
    except errors.RosterError as exc:
        return {field: exc.detail}
    return {}


def _label(kind: str) -> str:
    ref = get_reference(kind)
    return ref.label if ref else kind


def _counts(values: dict[str, int]) -> list[dict[str, Any]]:
    return [{"kind": k, "label": _label(k), "count": n} for k, n in sorted(values.items()) if n]


async def _kind_choices(request: Request) -> dict[str, str]:
    form = await request.form()
    return {
        key[len(KIND_PREFIX) :]: value
        for key, value in form.multi_items()
        if key.startswith(KIND_PREFIX) and isinstance(value, str)
    }


def wizard_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    *,
    step: int,
    choices: dict[str, str] | None = None,
    successor_id: str = "",
    confirm: str = "",
    error: str = "",
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    preview = deletion.preview_deletion(session, user)
    # Work in the trash moves with the rest, so a kind with only that is still a choice to make.
    items = [i for i in preview.references if i.count or i.in_trash]
    choices = choices or {}
    successor = None
    if successor_id:
        sid = parse_uuid(successor_id)
        successor = session.get(User, (principal.org_id, sid)) if sid else None
    summary = [
        {
            "label": i.label,
            "count": i.count,
            "in_trash": i.in_trash,
            "disposition": choices.get(i.kind, i.dispositions[0] if i.dispositions else "system_user"),
        }
        for i in items
    ]
    return render(
        request,
        "people/delete.html",
        {
            "section": "people",
            "person": user,
            "step": step,
            "items": items,
            "total": preview.total,
            "total_in_trash": preview.total_in_trash,
            "choices": choices,
            "successor_id": successor_id,
            "successor": successor,
            "summary": summary,
            "back_query": urlencode(
                {"successor_id": successor_id, **{KIND_PREFIX + k: v for k, v in choices.items()}}
            ),
            "labels": DISPOSITION_LABELS,
            "picker_people": _successors(session, principal, user),
            "confirm": confirm,
            "error": error,
            "field_errors": field_errors or {},
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/{user_id}/delete")
def delete_start(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    """Step 1 and 2: what they own, per kind, and where each kind goes."""
    user = _removable(session, principal, user_id)
    if user.status == "deleted":
        return redirect(f"/people/{user.id}", request, f"{user.display_name} is already deleted.", "info")
    # "Back" from the confirmation carries the choices made so far, so none is lost.
    query = request.query_params
    choices = {
        key[len(KIND_PREFIX) :]: value for key, value in query.multi_items() if key.startswith(KIND_PREFIX)
    }
    successor_id = query.get("successor_id", "")[:64]
    return wizard_page(request, principal, session, user, step=1, choices=choices, successor_id=successor_id)


def _plan(choices: dict[str, str], successor_id: str) -> deletion.DispositionPlan:
    kinds: dict[str, Disposition] = {}
    for kind, value in choices.items():
        try:
            kinds[kind] = Disposition(value)
        except ValueError:
            raise errors.DispositionNotAllowed(
                f"Choose one of the offered options for {_label(kind)}."
            ) from None
    return deletion.DispositionPlan(
        default=Disposition.SYSTEM_USER, successor_id=parse_uuid(successor_id), kinds=kinds
    )


def _check_choices(choices: dict[str, str], successor_id: str) -> dict[str, str]:
    if "successor" in choices.values() and parse_uuid(successor_id) is None:
        return {"successor_id": "Pick the colleague who takes over, or choose another option."}
    return {}


KindChoices = Annotated[dict[str, str], Depends(_kind_choices)]


@router.get("/people/{user_id}/delete/review")
def delete_review(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    """Step 3: the choices, and "type the email to confirm". A GET (the choices are in the
    address), so Back after the deletion, or a reload, never asks to send a form again."""
    user = _removable(session, principal, user_id)
    if user.status == "deleted":
        return redirect(f"/people/{user.id}", request, f"{user.display_name} is already deleted.", "info")
    query = request.query_params
    choices = {
        key[len(KIND_PREFIX) :]: value for key, value in query.multi_items() if key.startswith(KIND_PREFIX)
    }
    successor_id = query.get("successor_id", "")[:64]
    problems = _check_choices(choices, successor_id)
    if not problems and "successor" in choices.values():
        problems = _recipient_problem(
            session,
            user,
            successor_id,
            field="successor_id",
            self_message=f"{user.display_name} is the person being deleted: pick the colleague who "
            "takes over their work.",
        )
    step = 1 if problems else 3
    return wizard_page(
        request,
        principal,
        session,
        user,
        step=step,
        choices=choices,
        successor_id=successor_id,
        field_errors=problems,
        status_code=422 if problems else 200,
    )


@router.post("/people/{user_id}/delete")
def delete(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    choices: KindChoices,
    confirm: Annotated[str, Form(max_length=320)] = "",
    successor_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Step 4: delete, then lead to the result: what moved, and Restore."""
    user = _target(session, principal, user_id)
    if gone := _gone_already(request, user):
        return gone
    try:
        with session.begin_nested():
            result = deletion.delete_user(
                session, user, actor=principal.user, confirm=confirm, disposition=_plan(choices, successor_id)
            )
    except errors.ConfirmationMismatch:
        return wizard_page(
            request,
            principal,
            session,
            user,
            step=3,
            choices=choices,
            successor_id=successor_id,
            confirm=confirm,
            field_errors={"confirm": f"Type {user.email} exactly to confirm."},
            status_code=422,
        )
    except errors.RosterError as exc:
        return wizard_page(
            request,
            principal,
            session,
            user,
            step=1,
            choices=choices,
            successor_id=successor_id,
            error=exc.detail,
            status_code=exc.status,
        )
    return redirect(_result_url(result.operation_id))


# --- Result (the page a delete, merge or erase leads to) ------------------------------------

RESULT_KINDS = {
    OperationKind.DELETE.value: "deleted",
    OperationKind.MERGE.value: "merged",
    OperationKind.ERASE.value: "erased",
}


def _result_url(operation_id: uuid.UUID) -> str:
    return f"/people/operations/{operation_id}"


def _moved_to(done: dict[str, Any], kind: str, successor_name: str) -> list[dict[str, Any]]:
    """The moved counts of an operation, each with whom the kind went to, as the review step before
    a deletion names it: the account merged into, the successor, or the System User."""
    chosen = done.get("kinds")
    rows = _counts(done.get("moved") or {})
    for row in rows:
        to_successor = kind == "merged" or (
            isinstance(chosen, dict) and chosen.get(row["kind"]) == Disposition.SUCCESSOR.value
        )
        row["to"] = successor_name if to_successor and successor_name else "the System User"
    return rows


@router.get("/people/operations/{operation_id}")
def operation_result(request: Request, principal: WebAdmin, session: DB, operation_id: uuid.UUID) -> Response:
    """What a delete, merge or erase did, with Restore while it can be undone.

    The form posts redirect here, so reloading this page shows the result again instead of
    sending the form twice.
    """
    op = deletion.get_operation(session, principal.org_id, operation_id)
    kind = RESULT_KINDS.get(op.kind)
    if kind is None:
        raise errors.NotFound("No such operation.")
    user = get_user_any(session, principal.org_id, op.user_id)
    # The account merged into, or the successor a deletion handed work to.
    successor = (
        get_user_any(session, principal.org_id, op.successor_id) if op.successor_id is not None else None
    )
    into = successor if kind == "merged" else None
    done = op.dispositions or {}
    name, successor_name = names_apart(user, successor) if successor is not None else (user.display_name, "")
    into_name = successor_name if into is not None else ""
    return render(
        request,
        "people/result.html",
        {
            "section": "people",
            "kind": kind,
            "operation": op,
            "person": user,
            "name": name,
            "into": into,
            "into_name": into_name,
            "can_restore": deletion.can_restore_operation(op, user),
            "moved": _moved_to(done, kind, successor_name),
            "deleted": _counts(done.get("deleted") or {}),
        },
        principal=principal,
        session=session,
    )


@router.post("/people/{user_id}/restore")
def restore(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    """Undo a deletion or merge within the restore window."""
    user = _target(session, principal, user_id)
    try:
        with session.begin_nested():
            result = deletion.restore_user(session, user, actor=principal.user)
    except errors.RosterError as exc:
        # Back to the person, and, for an address taken since, the way out: whoever holds it now.
        actions = [FlashAction(f"Back to {user.display_name}", f"/people/{user.id}", method="get")]
        if isinstance(exc, errors.EmailInUse):
            holder = parse_uuid(str(exc.extra.get("user_id", "")))
            if holder is not None:
                actions.append(FlashAction("Open their page", f"/people/{holder}", method="get"))
            elif exc.extra.get("invitation_id"):
                actions.append(FlashAction("See pending invitations", "/people/invited", method="get"))
        return redirect(
            "/people/deleted",
            request,
            f"{user.display_name} was not restored: {exc.detail}",
            "error",
            actions,
        )
    count = sum(result.restored.values())
    # What the deletion set to "Delete" is back too: say so beside the moves, counted as the
    # deletion's result page counted it (a post, not the post and its comments).
    deleted = deletion.get_operation(session, principal.org_id, result.operation_id).dispositions or {}
    again = sum(int(n) for n in (deleted.get("deleted") or {}).values()) if result.unhidden else 0
    back = f" and {again} deleted with them {'is' if again == 1 else 'are'} back" if again else ""
    return redirect(
        f"/people/{user.id}",
        request,
        f"{user.display_name} is restored (as dismissed) and {count} item{'s' if count != 1 else ''} "
        f"went back to them{back}. Rehire them to let them sign in.",
    )


# --- Merge ----------------------------------------------------------------------------------


def merge_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    *,
    into_id: str = "",
    confirm: str = "",
    field_errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    preview = deletion.preview_deletion(session, user)
    return render(
        request,
        "people/merge.html",
        {
            "section": "people",
            "person": user,
            "items": [i for i in preview.references if i.count or i.in_trash],
            "into_id": into_id,
            "confirm": confirm,
            "picker_people": _successors(session, principal, user),
            "field_errors": field_errors or {},
            "error": error,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/{user_id}/merge")
def merge_form(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    user = _removable(session, principal, user_id)
    return _gone_already(request, user) or merge_page(request, principal, session, user)


@router.post("/people/{user_id}/merge")
def merge(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    into_id: Annotated[str, Form(max_length=64)] = "",
    confirm: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Move everything of a duplicate account to the right one, then delete the duplicate."""
    user = _target(session, principal, user_id)
    if gone := _gone_already(request, user):
        return gone
    into_uuid = parse_uuid(into_id)
    if into_uuid is None:
        return merge_page(
            request,
            principal,
            session,
            user,
            confirm=confirm,
            field_errors={"into_id": "Pick the account to keep."},
            status_code=422,
        )
    if into_uuid == user.id:
        return merge_page(
            request,
            principal,
            session,
            user,
            confirm=confirm,
            field_errors={
                "into_id": "That is the duplicate itself: pick the other account of this person, the one to keep."
            },
            status_code=422,
        )
    try:
        into = get_named_user(session, principal.org_id, into_uuid, field="into_id")
        with session.begin_nested():
            result = deletion.merge_users(session, user, into=into, actor=principal.user, confirm=confirm)
    except errors.ConfirmationMismatch:
        return merge_page(
            request,
            principal,
            session,
            user,
            into_id=into_id,
            confirm=confirm,
            field_errors={"confirm": f"Type {user.email} exactly to confirm."},
            status_code=422,
        )
    except errors.RosterError as exc:
        return merge_page(
            request,
            principal,
            session,
            user,
            into_id=into_id,
            confirm=confirm,
            status_code=exc.status,
            **_shown(exc, "into_id"),
        )
    return redirect(_result_url(result.operation_id))


def _shown(exc: errors.RosterError, field: str) -> dict[str, Any]:
    """How a page shows a refusal: beside the picker when it is about the person picked there
    (unknown, inactive, the same person), above the form otherwise."""
    if exc.extra.get("field") == field:
        return {"field_errors": {field: exc.detail}}
    return {"error": exc.detail}


# --- Erase ----------------------------------------------------------------------------------


def erase_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    *,
    confirm: str = "",
    field_errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    preview = deletion.preview_deletion(session, user)
    return render(
        request,
        "people/erase.html",
        {
            "section": "people",
            "person": user,
            "items": [i for i in preview.references if i.count or i.in_trash],
            "confirm": confirm,
            "field_errors": field_errors or {},
            "error": error,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/{user_id}/erase")
def erase_form(request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID) -> Response:
    user = _removable(session, principal, user_id)
    if user.email is None and (gone := _gone_already(request, user)):
        return gone
    return erase_page(request, principal, session, user)


@router.post("/people/{user_id}/erase")
def erase(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    confirm: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Delete and purge at once; their name and email are gone everywhere."""
    user = _target(session, principal, user_id)
    if user.email is None and (gone := _gone_already(request, user)):
        return gone
    name = user.display_name
    try:
        with session.begin_nested():
            result = deletion.erase_user(session, user, actor=principal.user, confirm=confirm)
    except errors.ConfirmationMismatch:
        return erase_page(
            request,
            principal,
            session,
            user,
            confirm=confirm,
            field_errors={"confirm": f"Type {user.email} exactly to confirm."},
            status_code=422,
        )
    except errors.RosterError as exc:
        return erase_page(
            request, principal, session, user, confirm=confirm, error=exc.detail, status_code=exc.status
        )
    # The name is gone from the records: only this one message, shown once, still says it.
    return redirect(_result_url(result.operation_id), request, f"{name} is erased.")


# --- Authorship -----------------------------------------------------------------------------


@router.get("/people/{user_id}/authorship")
def authorship(
    request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID, page: int = 1
) -> Response:
    """Content that was moved away from this person, and where it went."""
    user = _target(session, principal, user_id)
    page = max(1, min(page, 100_000))
    entries, total = deletion.list_authorship(
        session,
        principal.org_id,
        user_id=user.id,
        include_restored=True,
        page=page,
        per_page=AUTHORSHIP_PER_PAGE,
    )
    items = describe_moved(session, principal.org_id, entries)
    rows = [{"entry": e, "label": _label(e.kind), "item": items.get((e.kind, e.object_id))} for e in entries]
    system = get_system_user(session, principal.org_id)
    held = deletion.list_holdings_by_original(session, system, originally_by=user.id)
    return render(
        request,
        "people/authorship.html",
        {
            "section": "people",
            "person": user,
            # What the System User still holds of theirs, to hand to someone (a new hire, say).
            "system_user": system,
            "held_by_system": next(
                (sum(h.counts.values()) for h in held if h.original_user_id == user.id), 0
            ),
            "rows": rows,
            "total": total,
            "page": page,
            "pages": page_count(total, AUTHORSHIP_PER_PAGE),
        },
        principal=principal,
        session=session,
    )


# --- Transfer -------------------------------------------------------------------------------


# Kinds that say who made something (wrote a post, created a task, uploaded a file): handing them
# over rewrites history, so the transfer page leaves them for the admin to tick.
AUTHORSHIP_MEANINGS = frozenset({Meaning.AUTHOR, Meaning.CREATOR, Meaning.UPLOADER, Meaning.SENDER})


def _is_authorship(kind: str) -> bool:
    ref = get_reference(kind)
    return ref is not None and ref.meaning in AUTHORSHIP_MEANINGS


def _originals(session: Session, principal: Principal, user: User) -> list[dict[str, Any]]:
    """The people the authorship map names for what ``user`` holds, for the "Originally by"
    choice: each with their address (when they still have one) and counts per kind."""
    holdings = deletion.list_holdings_by_original(session, user)
    people = {
        u.id: u
        for u in session.scalars(
            select(User).where(
                User.org_id == principal.org_id,
                User.id.in_([h.original_user_id for h in holdings]),
            )
        )
    }
    choices = []
    for h in holdings:
        person = people.get(h.original_user_id)
        name = person.display_name if person is not None else h.original_display_name
        if person is not None and person.email:
            name = f"{name} <{person.email}>"
        counts = ", ".join(_holding_count(k, n, h.open.get(k)) for k, n in sorted(h.counts.items()))
        choices.append({"id": str(h.original_user_id), "name": name, "counts": counts})
    return choices


def _holding_count(kind: str, count: int, still_open: int | None) -> str:
    """One kind's part of an "Originally by" choice: "3 × tasks", or "2 open of 3 × tasks" for work
    with an end (a handover moves the open part unless closed work is included)."""
    label = _label(kind).lower()
    if still_open is None or still_open == count:
        return f"{count} × {label}"
    return f"{still_open} open of {count} × {label}"


def transfer_page(
    request: Request,
    principal: Principal,
    session: Session,
    user: User,
    *,
    chosen: list[str] | None = None,
    to_id: str = "",
    originally_by: str = "",
    include_closed: bool = False,
    field_errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    preview = deletion.preview_deletion(session, user)
    items = [i for i in preview.references if i.count and "successor" in i.dispositions]
    return render(
        request,
        "people/transfer.html",
        {
            "section": "people",
            "person": user,
            "items": items,
            "authorship": {i.kind for i in items if _is_authorship(i.kind)},
            "chosen": chosen if chosen is not None else [i.kind for i in items if not _is_authorship(i.kind)],
            "to_id": to_id,
            "originally_by": originally_by,
            "include_closed": include_closed,
            # Kinds with closed work (done tasks, won or lost leads), which stays unless asked.
            "with_closed": [i for i in items if i.open is not None and i.open < i.count],
            "originals": _originals(session, principal, user),
            "picker_people": _successors(session, principal, user),
            "field_errors": field_errors or {},
            "error": error,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/people/{user_id}/transfer")
def transfer_form(
    request: Request, principal: WebAdmin, session: DB, user_id: uuid.UUID, originally_by: str = ""
) -> Response:
    """Hand someone's work to a colleague without deleting anyone (a leaver's open tasks, say, or
    the System User's records, optionally only those originally by one person: ``originally_by``
    chooses them in advance, as the link from a deleted person's moved content does)."""
    original = parse_uuid(originally_by)
    return transfer_page(
        request,
        principal,
        session,
        _target(session, principal, user_id),
        originally_by=str(original) if original else "",
    )


@router.post("/people/{user_id}/transfer")
def transfer(
    request: Request,
    principal: WebAdmin,
    session: DB,
    user_id: uuid.UUID,
    to_id: Annotated[str, Form(max_length=64)] = "",
    originally_by: Annotated[str, Form(max_length=64)] = "",
    kinds: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    include_closed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    user = _target(session, principal, user_id)
    closed_too = include_closed == "on"
    to_uuid = parse_uuid(to_id)
    original_uuid = parse_uuid(originally_by)
    problems: dict[str, str] = {}
    if to_uuid is None:
        problems["to_id"] = "Pick the colleague who takes over."
    elif to_uuid == user.id:
        problems["to_id"] = (
            f"{user.display_name} is the person whose work is handed over: pick someone else to take it."
        )
    if not kinds:
        problems["kinds"] = "Tick at least one kind of work to hand over."
    if originally_by and original_uuid is None:
        problems["originally_by"] = "Choose one of the people listed, or everyone."
    if problems or to_uuid is None:
        return transfer_page(
            request,
            principal,
            session,
            user,
            chosen=kinds,
            to_id=to_id,
            originally_by=originally_by,
            include_closed=closed_too,
            field_errors=problems,
            status_code=422,
        )
    try:
        to = get_named_user(session, principal.org_id, to_uuid, field="to_id")
        with session.begin_nested():
            handed = deletion.transfer_references(
                session,
                user,
                to=to,
                actor=principal.user,
                kinds=kinds,
                originally_by=original_uuid,
                include_closed=closed_too,
            )
    except errors.RosterError as exc:
        return transfer_page(
            request,
            principal,
            session,
            user,
            chosen=kinds,
            to_id=to_id,
            originally_by=originally_by,
            include_closed=closed_too,
            status_code=exc.status,
            **_shown(exc, "originally_by" if exc.extra.get("field") == "originally_by" else "to_id"),
        )
    count = sum(handed.moved.values())
    kept = sum(handed.kept_closed.values())
    source_name, to_name = names_apart(user, to)
    if count == 0:
        message = f"Nothing was handed over: {source_name} holds none of the chosen work" + (
            " that is still open." if not closed_too else "."
        )
    elif count == 1:
        message = f"1 item of {source_name} now belongs to {to_name}."
    else:
        message = f"{count} items of {source_name} now belong to {to_name}."
    if kept:
        message += f" {kept} closed item{'s' if kept != 1 else ''} (done tasks, won or lost leads) stayed with {source_name}."
    doubled = sum(handed.kept_duplicate.values())
    if doubled:
        message += (
            f" {doubled} item{'s' if doubled != 1 else ''} stayed with {source_name}: {to_name} "
            "has the same already (a task they observe too, say)."
        )
    return redirect(f"/people/{user.id}", request, message)
