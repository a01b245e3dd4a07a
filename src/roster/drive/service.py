"""Drive: the organization's common drive. Every member sees every file; the owner and admins
delete. Services never commit.

Blob lifetime (identical content shares one blob per organization): a blob is removed only when
no file row names it, hidden rows included. Whoever places a blob (an upload) or removes one (the
clean-up after a delete, the periodic sweep) first takes a lock on that (organization, hash) for
the rest of its transaction: a PostgreSQL advisory lock; on SQLite, writers hold the database's
write lock already. So an upload of the same content can never lose its blob to a clean-up.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.db.engine import transaction
from roster.domain import errors
from roster.drive.models import DriveFile
from roster.drive.storage import FileStorage, StagedBlob, get_storage, stored_org_ids
from roster.settings import Settings
from roster.trash.models import TrashItem
from roster.trash.service import move_to_trash

log = logging.getLogger("roster.drive")

NAME_LIMIT = 255
CONTENT_TYPE_LIMIT = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
STALE_STAGING_SECONDS = 24 * 3600

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def clean_file_name(raw: str | None) -> str:
    """The name to keep for an uploaded file, or InvalidFileName.

    Names are refused, not silently rewritten: a name with a path separator (``/`` or ``\\``), a
    control character (including line breaks and bidirectional overrides, which disguise an
    extension), ``.``/``..``, an empty name, or one longer than 255 characters is 422
    ``invalid_file_name``. Surrounding spaces are trimmed and the name is NFC-normalized. The name
    is only ever shown and sent back in ``Content-Disposition``; it never reaches the file system.
    """
    if raw is None:
        raise errors.InvalidFileName("The upload has no file name.", field="file")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name or name in (".", ".."):
        raise errors.InvalidFileName("The file name is empty.", field="file")
    if "/" in name or "\\" in name:
        raise errors.InvalidFileName("The file name must not contain a path separator.", field="file")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            raise errors.InvalidFileName("The file name must not contain control characters.", field="file")
    if len(name) > NAME_LIMIT:
        raise errors.InvalidFileName(f"The file name is longer than {NAME_LIMIT} characters.", field="file")
    return name


def clean_content_type(raw: str | None) -> str:
    """The client's media type without parameters when it is well-formed; octet-stream otherwise."""
    value = (raw or "").split(";", 1)[0].strip().lower()
    if len(value) <= CONTENT_TYPE_LIMIT and _CONTENT_TYPE_RE.match(value):
        return value
    return DEFAULT_CONTENT_TYPE


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name per RFC 6266 / RFC 5987."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r'[^\x20-\x7e]|["\\%;]', "_", fallback).strip() or "download"
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def lock_blob(session: Session, org_id: uuid.UUID, sha256: str) -> None:
    """Serialize placing and removing one blob until this transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: every writing transaction already holds the database's write lock
    key = int.from_bytes(hashlib.sha256(org_id.bytes + sha256.encode()).digest()[:8], "big", signed=True)
    session.execute(select(func.pg_advisory_xact_lock(key)))


def store_file(
    session: Session,
    *,
    actor: User,
    name: str,
    content_type: str | None,
    staged: StagedBlob,
    storage: FileStorage,
) -> DriveFile:
    """Record an uploaded file whose bytes are staged (finished); the actor owns and uploaded it."""
    name = clean_file_name(name)
    if staged.size == 0:
        raise errors.EmptyFile("The file is empty.", field="file")
    accounts.require_live_actor(session, actor)  # the upload may have outlasted their account
    lock_blob(session, actor.org_id, staged.sha256)
    storage.keep(staged)
    file = DriveFile(
        org_id=actor.org_id,
        name=name,
        size=staged.size,
        content_type=clean_content_type(content_type),
        sha256=staged.sha256,
        owner_id=actor.id,
        uploader_id=actor.id,
        created_at=clock.now(),
    )
    session.add(file)
    session.flush()
    return file


def upload_file(
    session: Session,
    *,
    actor: User,
    name: str,
    content_type: str | None,
    stream: BinaryIO,
    storage: FileStorage,
    max_bytes: int,
) -> DriveFile:
    """Store a file read from a stream (the size limit enforced while reading); for scripts and demo."""
    name = clean_file_name(name)
    staged = storage.stage(max_bytes=max_bytes)
    try:
        while chunk := stream.read(64 * 1024):
            staged.write(chunk)
        staged.finish()
        return store_file(
            session, actor=actor, name=name, content_type=content_type, staged=staged, storage=storage
        )
    finally:
        staged.discard()


def get_file(session: Session, viewer: User, file_id: uuid.UUID, *, for_update: bool = False) -> DriveFile:
    """A file of the viewer's organization, or NotFound."""
    query = select(DriveFile).where(
        DriveFile.org_id == viewer.org_id, DriveFile.id == file_id, DriveFile.hidden_by.is_(None)
    )
    if for_update:
        query = query.with_for_update()
    file = session.scalar(query)
    if file is None:
        raise errors.NotFound("No such file.")
    return file


def list_files(
    session: Session,
    viewer: User,
    *,
    owner_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[DriveFile], int]:
    """The organization's files (optionally one owner's), newest first, and how many in all."""
    query = select(DriveFile).where(DriveFile.org_id == viewer.org_id, DriveFile.hidden_by.is_(None))
    if owner_id is not None:
        query = query.where(DriveFile.owner_id == owner_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    files = session.scalars(
        query.order_by(DriveFile.created_at.desc(), DriveFile.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(files), total


def can_delete_file(viewer: User, file: DriveFile) -> bool:
    """The owner and admins delete a file."""
    return viewer.is_admin or viewer.id == file.owner_id


def require_can_delete_file(viewer: User, file: DriveFile) -> None:
    """Forbidden unless the viewer may delete the file."""
    if not can_delete_file(viewer, file):
        raise errors.Forbidden("Only the file's owner or an admin may delete it.")


def delete_file(session: Session, file: DriveFile, *, actor: User) -> TrashItem:
    """Move a file to the trash (owner or admin); it can be restored until the organization's
    restore window ends, and its content is kept until then."""
    require_can_delete_file(actor, file)
    item = move_to_trash(session, "file", org_id=file.org_id, object_id=file.id, actor=actor)
    session.expunge(file)
    return item


def remove_unreferenced_blob(session: Session, storage: FileStorage, org_id: uuid.UUID, sha256: str) -> bool:
    """Remove a blob if no file row (hidden ones included) names it; True if removed."""
    lock_blob(session, org_id, sha256)
    referenced = session.scalar(
        select(DriveFile.id).where(DriveFile.org_id == org_id, DriveFile.sha256 == sha256).limit(1)
    )
    if referenced is not None:
        return False
    storage.delete(sha256)
    return True


def remove_unreferenced_blobs(
    session: Session, storage: FileStorage, org_id: uuid.UUID, sha256s: Sequence[str] | None = None
) -> int:
    """Remove every blob (or each of ``sha256s``) of the organization that no row names."""
    candidates = list(sha256s) if sha256s is not None else list(storage.hashes())
    removed = 0
    for start in range(0, len(candidates), 500):
        batch = candidates[start : start + 500]
        referenced = set(
            session.scalars(
                select(DriveFile.sha256)
                .where(DriveFile.org_id == org_id, DriveFile.sha256.in_(batch))
                .distinct()
            )
        )
        for sha256 in batch:
            # Re-checked under the lock: an upload may have named it since the batch query.
            if sha256 not in referenced and remove_unreferenced_blob(session, storage, org_id, sha256):
                removed += 1
    return removed


def sweep_blobs(factory: sessionmaker[Session], settings: Settings) -> int:
    """Remove unreferenced blobs (e.g. after the purge destroyed hidden rows) and stale staging
    files, one organization per transaction; returns how many blobs went."""
    removed = 0
    for org_id in stored_org_ids(settings):
        storage = get_storage(settings, org_id)
        storage.remove_stale_staging(STALE_STAGING_SECONDS)
        with transaction(factory) as session:
            if session.get(Organization, org_id) is None:
                continue  # not this database's organization (a shared files directory)
            removed += remove_unreferenced_blobs(session, storage, org_id)
    if removed:
        log.info("drive sweep removed %d unreferenced blobs", removed)
    return removed


def drive_jobs(app: Any) -> list[tuple[str, float, Callable[[], object]]]:
    """The periodic blob sweep (hourly): removes blobs whose last row the purge destroyed."""
    factory: sessionmaker[Session] = app.state.sessions["write"]
    settings: Settings = app.state.settings
    return [("drive-blob-sweep", 3600.0, lambda: sweep_blobs(factory, settings))]
