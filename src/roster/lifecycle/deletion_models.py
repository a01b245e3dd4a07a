"""Deletion operations and the authorship map.

Each delete, merge, transfer or erase is one ``lifecycle_operations`` row. Every reference it moved
is one ``authorship`` row (which object, whose it was, whom it went to), written by the same
set-based statement that moved it; restore reads the map back. Rows hidden by a ``delete``
disposition carry the operation's id in their ``hidden_by`` column instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, JSONType, TenantMixin
from roster.references import Handling, Meaning, UserReference, register


class OperationKind(StrEnum):
    DELETE = "delete"
    MERGE = "merge"
    TRANSFER = "transfer"
    ERASE = "erase"


class LifecycleOperation(TenantMixin, Base):
    __tablename__ = "lifecycle_operations"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "user_id"], ["users.org_id", "users.id"]),
        ForeignKeyConstraint(["org_id", "actor_id"], ["users.org_id", "users.id"]),
        ForeignKeyConstraint(["org_id", "successor_id"], ["users.org_id", "users.id"]),
        Index("ix_lifecycle_operations_user", "org_id", "user_id", "created_at"),
        # The purge looks for restorable operations whose window has passed, across organizations.
        Index("ix_lifecycle_operations_due", "purged_at", "restorable_until"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID] = mapped_column()  # the deleted, merged, erased or transferring user
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    successor_id: Mapped[uuid.UUID | None] = mapped_column()
    # {"kinds": {kind: disposition}, "moved": {kind: n}, "hidden": {kind: n}, ...}
    dispositions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    restorable_until: Mapped[datetime | None] = mapped_column()
    restored_at: Mapped[datetime | None] = mapped_column()
    purged_at: Mapped[datetime | None] = mapped_column()


class Authorship(Base):
    """One moved reference: the admin-only map of original authorship."""

    __tablename__ = "authorship"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "operation_id"],
            ["lifecycle_operations.org_id", "lifecycle_operations.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["org_id", "original_user_id"], ["users.org_id", "users.id"]),
        ForeignKeyConstraint(["org_id", "moved_to_id"], ["users.org_id", "users.id"]),
        Index("ix_authorship_object", "org_id", "kind", "object_id"),
        # What one person originally had, per kind (their authorship page counts it by kind).
        Index("ix_authorship_original_user", "org_id", "original_user_id", "kind", "object_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    operation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The row's id, or for a table without one, the value of the reference's unique_with column.
    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    original_user_id: Mapped[uuid.UUID] = mapped_column()
    original_display_name: Mapped[str] = mapped_column(String(200), default="")
    moved_to_id: Mapped[uuid.UUID] = mapped_column()
    moved_at: Mapped[datetime] = mapped_column(default=clock.now)
    restored_at: Mapped[datetime | None] = mapped_column()


for _kind, _table, _column, _label, _meaning in (
    ("lifecycle.operation.user", "lifecycle_operations", "user_id", "Deletions of them", Meaning.SUBJECT),
    ("lifecycle.operation.actor", "lifecycle_operations", "actor_id", "Deletions they ran", Meaning.ACTOR),
    (
        "lifecycle.operation.successor",
        "lifecycle_operations",
        "successor_id",
        "Deletions that named them successor",
        Meaning.SUBJECT,
    ),
    (
        "lifecycle.authorship.original",
        "authorship",
        "original_user_id",
        "Original authorship",
        Meaning.AUTHOR,
    ),
    (
        "lifecycle.authorship.moved_to",
        "authorship",
        "moved_to_id",
        "References moved to them",
        Meaning.HOLDER,
    ),
):
    register(
        UserReference(
            kind=_kind,
            table=_table,
            column=_column,
            label=_label,
            meaning=_meaning,
            dispositions=(),
            handling=Handling.RECORD,
            nullable=_column in ("actor_id", "successor_id"),
        )
    )
