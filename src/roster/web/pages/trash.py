"""The trash: deleted posts, comments, tasks, files and leads, restored from here until their
window ends. Everyone sees what they deleted; admins see the organization's trash and may remove
an item for good before its window ends."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from roster.accounts.deps import DB
from roster.domain import errors
from roster.trash import service
from roster.trash.models import TrashItem
from roster.trash.registry import all_kinds
from roster.web.core import FlashAction, WebAdmin, WebUser, page_count, redirect, render, safe_next

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
# Shown after something is deleted in the pages.
TRASH_HINT = "It can be restored from the Trash until the restore window ends."
# Where a restored object is shown.
_SHOWN_AT = {
    "post": "/stream#post-{id}",
    "comment": "/stream",
    "task": "/tasks",
    "file": "/drive",
    "lead": "/crm",
}


def moved_to_trash(request: Request, item: TrashItem, what: str, back: str) -> Response:
    """Back to ``back``, the page the person deleted ``what`` from, saying where it went, with an
    "Undo" button that restores ``item`` and returns there."""
    undo = FlashAction("Undo", f"/trash/{item.id}/restore?" + urlencode({"next": back}))
    return redirect(back, request, f"{what} is moved to the trash. {TRASH_HINT}", action=undo)


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
    return to, else the page that shows the restored object."""
    item = service.get_trash_item(session, principal.user, item_id, for_update=True)
    label = service.trash_entry(session, item).kind.label
    try:
        with session.begin_nested():
            service.restore_from_trash(session, item, actor=principal.user)
    except errors.RosterError as exc:
        return redirect(safe_next(next, "/trash"), request, exc.detail, "error")
    where = _SHOWN_AT.get(item.kind, "/trash").format(id=item.object_id)
    return redirect(safe_next(next, where), request, f"The {label.lower()} is restored.")


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
