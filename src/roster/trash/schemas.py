"""Shapes of the trash API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from roster.accounts.schemas import UserRef, user_ref
from roster.trash.service import TrashEntry


class TrashItemOut(BaseModel):
    id: uuid.UUID
    kind: str  # "post", "comment", "task", "file", "lead"
    object_id: uuid.UUID  # the post's, task's, ... id: the same again once restored
    title: str  # a title, a file name, or the start of a post or comment
    owner: UserRef | None  # its author, creator or owner
    deleted_by: UserRef | None
    deleted_at: datetime
    restorable_until: datetime


class TrashPage(BaseModel):
    items: list[TrashItemOut]
    total: int


def trash_item_out(entry: TrashEntry, *, show_former_names: bool) -> TrashItemOut:
    return TrashItemOut(
        id=entry.item.id,
        kind=entry.item.kind,
        object_id=entry.item.object_id,
        title=entry.title,
        owner=user_ref(entry.owner, show_former_names=show_former_names) if entry.owner else None,
        deleted_by=user_ref(entry.actor, show_former_names=show_former_names) if entry.actor else None,
        deleted_at=entry.item.created_at,
        restorable_until=entry.item.restorable_until,
    )
