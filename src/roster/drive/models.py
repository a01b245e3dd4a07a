"""Drive: files of the organization's common drive.

The bytes live in a :class:`roster.drive.storage.FileStorage` under their SHA-256; a row names
the blob. Identical content uploaded twice in one organization shares one blob, which is removed
only when no row (hidden rows included) names it any more.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, Hideable, TenantMixin
from roster.references import Disposition, Meaning, UserReference, register
from roster.trash.registry import TrashKind, titled_by
from roster.trash.registry import register as register_trash


def _user_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", column], ["users.org_id", "users.id"])


class DriveFile(TenantMixin, Hideable, Base):
    __tablename__ = "drive_files"
    __table_args__ = (
        _user_fk("owner_id"),
        _user_fk("uploader_id"),
        Index("ix_drive_files_owner", "org_id", "owner_id"),
        Index("ix_drive_files_uploader", "org_id", "uploader_id"),
        Index("ix_drive_files_sha256", "org_id", "sha256"),
        Index("ix_drive_files_org_created", "org_id", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[uuid.UUID] = mapped_column()
    uploader_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


register(
    UserReference(
        kind="drive.file.owner",
        table="drive_files",
        column="owner_id",
        label="Files they own",
        meaning=Meaning.OWNER,
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="drive.file.uploader",
        table="drive_files",
        column="uploader_id",
        label="Files they uploaded",
        meaning=Meaning.UPLOADER,
        # Who uploaded is a fact: a successor did not upload it. The file itself goes with its owner.
        dispositions=(Disposition.SYSTEM_USER,),
    )
)

# --- the trash ------------------------------------------------------------------------------

# A file in the trash keeps its content: the blob goes with the drive's sweep once the purge has
# destroyed the last row naming it.
_FILES: Table = DriveFile.__table__  # type: ignore[assignment]

register_trash(
    TrashKind(
        name="file", label="File", table=_FILES, owner_column="owner_id", describe=titled_by(_FILES, "name")
    )
)
