"""Response shapes of the drive API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from roster.accounts.models import User
from roster.accounts.schemas import UserRef, user_ref
from roster.drive.models import DriveFile


class FileOut(BaseModel):
    id: uuid.UUID
    name: str
    size: int
    content_type: str
    sha256: str
    owner: UserRef
    uploaded_by: UserRef
    created_at: datetime
    content_url: str


class FilePage(BaseModel):
    items: list[FileOut]
    total: int


def file_out(file: DriveFile, users: dict[uuid.UUID, User], *, show_former_names: bool) -> FileOut:
    """The API shape of a file; ``users`` holds its owner and uploader (loaded once per page)."""
    return FileOut(
        id=file.id,
        name=file.name,
        size=file.size,
        content_type=file.content_type,
        sha256=file.sha256,
        owner=user_ref(users[file.owner_id], show_former_names=show_former_names),
        uploaded_by=user_ref(users[file.uploader_id], show_former_names=show_former_names),
        created_at=file.created_at,
        content_url=f"/api/v1/files/{file.id}/content",
    )
