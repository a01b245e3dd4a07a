"""Trash API: ``/trash``. Everyone sees what they deleted; admins see the organization's trash."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from roster.accounts.deps import DB, AdminUser, CurrentUser
from roster.trash import service
from roster.trash.schemas import TrashItemOut, TrashPage, trash_item_out

router = APIRouter(tags=["trash"])


@router.get("/trash", response_model=TrashPage)
def list_trash(
    principal: CurrentUser,
    session: DB,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TrashPage:
    """Deleted posts, comments, tasks, files and leads not yet purged, most recently deleted first
    (each restorable until its ``restorable_until``; the purge removes it after): an admin's view
    holds everyone's, anyone else's what they deleted."""
    entries, total = service.list_trash(session, principal.user, kind=kind, page=page, per_page=per_page)
    show = principal.organization(session).show_former_employee_names
    return TrashPage(items=[trash_item_out(e, show_former_names=show) for e in entries], total=total)


@router.post("/trash/{item_id}/restore", response_model=TrashItemOut)
def restore(item_id: uuid.UUID, principal: CurrentUser, session: DB) -> TrashItemOut:
    """Bring it back as it was (same id, comments, likes, participants), before the window ends."""
    item = service.get_trash_item(session, principal.user, item_id, for_update=True)
    entry = service.trash_entry(session, item)
    service.restore_from_trash(session, item, actor=principal.user)
    show = principal.organization(session).show_former_employee_names
    return trash_item_out(entry, show_former_names=show)


@router.delete("/trash/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def purge(item_id: uuid.UUID, principal: AdminUser, session: DB) -> Response:
    """Remove it for good now, before its window ends (admins)."""
    item = service.get_trash_item(session, principal.user, item_id, for_update=True)
    service.purge_item(session, item, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
