"""Drive API: ``/files``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from roster import etags
from roster.accounts.deps import DB, AppSettings, CurrentUser, Principal
from roster.accounts.models import User
from roster.domain import errors
from roster.drive import service
from roster.drive.models import DriveFile
from roster.drive.schemas import FileOut, FilePage, file_out
from roster.drive.storage import CHUNK, get_storage
from roster.drive.upload import receive_upload
from roster.locations import set_location

router = APIRouter(tags=["drive"])

_UPLOAD_BODY: dict[str, Any] = {
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


def _render(session: Session, principal: Principal, files: list[DriveFile]) -> list[FileOut]:
    ids = {f.owner_id for f in files} | {f.uploader_id for f in files}
    users = {
        u.id: u
        for u in session.scalars(select(User).where(User.org_id == principal.org_id, User.id.in_(ids)))
    }
    show = principal.organization(session).show_former_employee_names
    return [file_out(f, users, show_former_names=show) for f in files]


@router.post(
    "/files", response_model=FileOut, status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_BODY
)
async def upload_file(
    request: Request, response: Response, principal: CurrentUser, session: DB, settings: AppSettings
) -> FileOut:
    """Upload a file (multipart field ``file``) to the common drive; the caller owns it.

    413 ``too_large`` past the size limit (checked while the bytes stream in), 422 ``empty_file``,
    422 ``invalid_file_name`` for names with path separators or control characters.
    """
    storage = get_storage(settings, principal.org_id)
    # End the transaction that authenticated the caller before the (possibly long) upload: on
    # SQLite a writing request holds the database's write lock, which must not wait on a slow
    # client. Storing the file opens a new transaction, which the request dependency commits.
    await run_in_threadpool(session.commit)
    received = await receive_upload(request, storage, max_bytes=settings.max_upload_bytes)
    try:

        def store() -> FileOut:
            file = service.store_file(
                session,
                actor=principal.user,
                name=received.name,
                content_type=received.content_type,
                staged=received.staged,
                storage=storage,
            )
            set_location(request, response, f"/files/{file.id}")
            return _render(session, principal, [file])[0]

        return await run_in_threadpool(store)
    finally:
        received.staged.discard()


@router.get("/files", response_model=FilePage)
def list_files(
    principal: CurrentUser,
    session: DB,
    owner_id: uuid.UUID | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,  # beyond that an offset overflows SQL integers
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FilePage:
    """The organization's common drive, newest first (``owner_id`` narrows it to one owner)."""
    files, total = service.list_files(
        session, principal.user, owner_id=owner_id, page=page, per_page=per_page
    )
    return FilePage(items=_render(session, principal, files), total=total)


@router.get("/files/{file_id}", response_model=FileOut)
def get_file(file_id: uuid.UUID, principal: CurrentUser, session: DB) -> FileOut:
    return _render(session, principal, [service.get_file(session, principal.user, file_id)])[0]


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file's bytes",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def download_file(
    request: Request, file_id: uuid.UUID, principal: CurrentUser, session: DB, settings: AppSettings
) -> Response:
    """The file's bytes, always as an attachment under its original name; 304 when
    ``If-None-Match`` names them (a file's content never changes, so its tag is its SHA-256)."""
    file = service.get_file(session, principal.user, file_id)
    etag = f'"{file.sha256}"'
    if etags.none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "private, no-cache"})
    storage = get_storage(settings, principal.org_id)
    try:
        handle = storage.open(file.sha256)
    except FileNotFoundError:
        raise errors.NotFound("The file's content is missing.") from None

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    headers = {
        "Content-Disposition": service.content_disposition(file.name),
        "Content-Length": str(file.size),
        "X-Content-Type-Options": "nosniff",
        # Even if a browser were talked into rendering it, it runs nothing and reaches nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-cache",
        "ETag": etag,
    }
    return StreamingResponse(chunks(), media_type=file.content_type, headers=headers)


@router.delete("/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_file(file_id: uuid.UUID, principal: CurrentUser, session: DB) -> Response:
    """Move a file to the trash: its owner or an admin. Its content is kept until the trash is
    purged (``roster.trash``), then goes once no other file has the same bytes."""
    file = service.get_file(session, principal.user, file_id, for_update=True)
    service.delete_file(session, file, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
