"""The trash: deleted posts, comments, tasks, files and leads, restorable until their window ends.

Deleting a piece of work does not remove its rows. It writes one ``trash_items`` row and hides
the object, with the rows that belong to it (a post's comments, likes and mentions; a task's
participants), under that row's id in their ``hidden_by`` column (``db.base.Hideable``), as a
user's deletion hides rows under its operation. Every listing already leaves hidden rows out.
Restore clears ``hidden_by`` again; when the organization's restore window has passed, the purge
destroys the hidden rows for good. Each kind of object is declared once, next to its model, with
``roster.trash.registry.register``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, TenantMixin
from roster.references import Handling, Meaning, UserReference, register


class TrashItem(TenantMixin, Base):
    __tablename__ = "trash_items"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "actor_id"], ["users.org_id", "users.id"]),
        Index("ix_trash_items_org_created", "org_id", "created_at"),
        Index("ix_trash_items_actor", "org_id", "actor_id", "created_at"),
        Index("ix_trash_items_object", "org_id", "object_id"),
        # The purge looks for items whose window has passed, across organizations.
        Index("ix_trash_items_due", "purged_at", "restorable_until"),
    )

    kind: Mapped[str] = mapped_column(String(20))  # a registered TrashKind's name: "post", "task"
    object_id: Mapped[uuid.UUID] = mapped_column()
    actor_id: Mapped[uuid.UUID] = mapped_column()  # who deleted it
    created_at: Mapped[datetime] = mapped_column(default=clock.now)  # when it was deleted
    restorable_until: Mapped[datetime] = mapped_column()
    restored_at: Mapped[datetime | None] = mapped_column()
    purged_at: Mapped[datetime | None] = mapped_column()


register(
    UserReference(
        kind="trash.item.actor",
        table="trash_items",
        column="actor_id",
        label="Items they moved to the trash",
        meaning=Meaning.ACTOR,
        dispositions=(),
        handling=Handling.RECORD,
    )
)
