"""Downloading a person's data: their own (`/me/export`), or anyone's in the organization for an
admin (`/users/{id}/export`). Each download is recorded in the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from roster.accounts import service as accounts
from roster.accounts.deps import DB, AdminUser, AppSettings, CurrentUser, Principal
from roster.accounts.models import User
from roster.db.engine import read_one_snapshot, transaction
from roster.domain import errors
from roster.drive.service import content_disposition
from roster.lifecycle.audit import record_event
from roster.lifecycle.export import CHUNK, PersonalExport, export_filename, export_personal_data
from roster.settings import Settings

router = APIRouter(tags=["lifecycle"])

ZIP = "application/zip"
_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A ZIP file: person.json, records/<kind>.json, moved/<kind>.json, files/, photo, README.txt",
        "content": {ZIP: {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get("/me/export", response_class=StreamingResponse, responses=_ANSWER)
def export_me(request: Request, principal: CurrentUser, session: DB, settings: AppSettings) -> Response:
    """Everything Roster holds about the caller, as a ZIP file."""
    return _export(request, session, principal, principal.user, settings)


@router.get("/users/{user_id}/export", response_class=StreamingResponse, responses=_ANSWER)
def export_user(
    request: Request, user_id: uuid.UUID, principal: AdminUser, session: DB, settings: AppSettings
) -> Response:
    """Everything Roster holds about a person of the organization (active, dismissed, or deleted
    and not yet purged or erased), as a ZIP file: for a subject access request, or before an
    erasure."""
    user = accounts.get_user(session, principal.org_id, user_id)
    if user.is_system:
        raise errors.SystemUserImmutable(
            "The System User is nobody: what it holds belongs to the people it was moved from; export theirs."
        )
    return _export(request, session, principal, user, settings)


def _export(
    request: Request, session: Session, principal: Principal, user: User, settings: Settings
) -> Response:
    """Headers first, then the file: it is read and written after them (so HEAD, which stops there,
    reads nothing and records nothing), in a transaction of its own, and recorded before its first
    byte is sent."""
    factories: dict[str, sessionmaker[Session]] = request.app.state.sessions
    org_id, user_id, actor_id = principal.org_id, user.id, principal.user.id
    headers = {
        "Content-Disposition": content_disposition(export_filename(user)),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }

    def body() -> Iterator[bytes]:
        with factories["read"]() as read:
            read_one_snapshot(read)
            export = export_personal_data(read, accounts.get_user(read, org_id, user_id), settings=settings)
        with export.file:
            with transaction(factories["write"]) as write:
                _record(write, org_id, actor_id, user_id, export)
            while chunk := export.file.read(CHUNK):
                yield chunk

    return StreamingResponse(body(), media_type=ZIP, headers=headers)


def _record(
    session: Session, org_id: uuid.UUID, actor_id: uuid.UUID, user_id: uuid.UUID, export: PersonalExport
) -> None:
    record_event(
        session,
        org_id=org_id,
        action="user.data_exported",
        actor=session.get(User, (org_id, actor_id)),
        subject=session.get(User, (org_id, user_id)),
        details={
            "rows": sum(export.records.values()),
            "moved_rows": sum(export.moved.values()),
            "files": export.files,
            "bytes": export.size,
        },
    )
