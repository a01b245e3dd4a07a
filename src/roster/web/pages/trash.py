"""The trash: deleted posts, comments, tasks, files and leads, restored from here until their
window ends. Everyone sees what they deleted; admins see the organization's trash and may remove
an item for good before its window ends."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.deps import DB
from roster.accounts.models import User
from roster.domain import errors
from roster.stream.models import Comment
from roster.trash import service
from roster.trash.models import TrashItem
from roster.trash.registry import all_kinds
from roster.web.core import FlashAction, WebAdmin, WebUser, page_count, redirect, render, safe_next

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
# Shown after something is deleted in the pages.
TRASH_HINT = "It can be restored from the Trash until the restore window ends."
# Where a restored object is shown: its page, or its place in its module's list.
_SHOWN_AT = {
    "post": "/stream#post-{id}",
    "comment": "/stream#post-{post_id}",
    "task": "/tasks/{id}",
    "file": "/drive#file-{id}",
    "lead": "/crm/leads/{id}/edit",
}


def _shown_at(session: Session, item: TrashItem) -> str | None:
    """The address of a restored item (a comment is shown under its post)."""
    where = _SHOWN_AT.get(item.kind)
    if where is None:
        return None
    post_id = None
    if item.kind == "comment":
        post_id = session.scalar(
            select(Comment.post_id).where(Comment.org_id == item.org_id, Comment.id == item.object_id)
        )
        if post_id is None:
            return "/stream"
    return where.format(id=item.object_id, post_id=post_id)


def moved_to_trash(request: Request, item: TrashItem, what: str, back: str) -> Response:
    """Back to ``back``, the page the person deleted ``what`` from, saying where it went, with an
    "Undo" button that restores ``item`` and returns there."""
    undo = FlashAction("Undo", f"/trash/{item.id}/restore?" + urlencode({"next": back}))
    return redirect(back, request, f"{what} is moved to the trash. {TRASH_HINT}", action=undo)


def deleted_already(
    request: Request,
    session: Session,
    user: User,
    kind: str,
    object_id: uuid.UUID,
    back: str,
    exc: errors.NotFound,
) -> Response:
    """A delete sent twice (a second tab, Back and the button again) finds its object gone: when it
    is in the trash, back to ``back`` saying so, with the Undo; otherwise the refusal ``exc``."""
    item = service.find_in_trash(session, user, kind, object_id)
    if item is None:
        raise exc
    label = service.trash_entry(session, item).kind.label
    undo = FlashAction("Undo", f"/trash/{item.id}/restore?" + urlencode({"next": back}))
    return redirect(back, request, f"The {label.lower()} is in the trash already. {TRASH_HINT}", action=undo)


@router.get("/trash")
def trash(request: Request, principal: WebUser, session: DB, kind: str = "", page: int = 1) -> Response:
    kinds = {k.name: k.label for k in all_kinds()}
    chosen = kind if kind in kinds else ""
    page = max(1, min(page, 100_000))
    entries, total = service.list_trash(
        session, principal.user, kind=chosen or None, page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "intranet/trash.html",
        {
            "section": "trash",
            "entries": entries,
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "kind": chosen,
            "kinds": kinds,
        },
        principal=principal,
        session=session,
    )


@router.post("/trash/{item_id}/restore")
def restore(
    request: Request,
    principal: WebUser,
    session: DB,
    item_id: uuid.UUID,
    next: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """Restore an item (from the Trash, or the "Undo" of a delete); ``next`` is a local path to
    return to (the page the "Undo" was on), else the Trash itself, so that several items are
    restored one after another, with a link to where the restored one is shown."""
    try:
        item = service.get_trash_item(session, principal.user, item_id, for_update=True)
    except errors.NotFound:
        if not service.is_restored(session, principal.user, item_id):
            raise
        # Restore (or Undo) sent twice: what was asked is done.
        return redirect(safe_next(next, "/trash"), request, "It was restored already.")
    label = service.trash_entry(session, item).kind.label
    try:
        with session.begin_nested():
            service.restore_from_trash(session, item, actor=principal.user)
    except errors.RosterError as exc:
        return redirect(safe_next(next, "/trash"), request, exc.detail, "error")
    message = f"The {label.lower()} is restored."
    back = safe_next(next, "")
    if back:
        return redirect(back, request, message)
    where = _shown_at(session, item)
    action = FlashAction(f"Open the {label.lower()}", where, method="get") if where else None
    return redirect("/trash", request, message, action=action)


@router.get("/trash/{item_id}/purge")
def confirm_purge(request: Request, principal: WebAdmin, session: DB, item_id: uuid.UUID) -> Response:
    """Are you sure: removing an item for good cannot be undone."""
    item = service.get_trash_item(session, principal.user, item_id)
    return render(
        request,
        "intranet/trash_purge.html",
        {"section": "trash", "entry": service.trash_entry(session, item)},
        principal=principal,
        session=session,
    )


@router.post("/trash/{item_id}/purge")
def purge(request: Request, principal: WebAdmin, session: DB, item_id: uuid.UUID) -> Response:
    item = service.get_trash_item(session, principal.user, item_id, for_update=True)
    label = service.trash_entry(session, item).kind.label
    service.purge_item(session, item, actor=principal.user)
    return redirect("/trash", request, f"The {label.lower()} is removed for good.")
