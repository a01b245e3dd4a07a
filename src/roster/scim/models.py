"""SCIM provisioning tokens, and the constraints and indexes of the SCIM columns on ``users``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import ForeignKeyConstraint, Index, String, Table, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.accounts.models import User
from roster.db.base import Base, TenantMixin
from roster.references import Disposition, Handling, Meaning, UserReference, register


class ScimToken(TenantMixin, Base):
    """A bearer token an identity provider uses for one organization. Only a SHA-256 is stored."""

    __tablename__ = "scim_tokens"
    __table_args__ = (
        UniqueConstraint("org_id", "token_hash"),
        ForeignKeyConstraint(["org_id", "created_by"], ["users.org_id", "users.id"]),
        Index("ix_scim_tokens_created_by", "org_id", "created_by"),
    )

    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


_users = cast(Table, User.__table__)
_users.append_constraint(
    ForeignKeyConstraint(
        ["org_id", "manager_id"],
        ["users.org_id", "users.id"],
        name="fk_users_org_id_manager_id_users",
    )
)
Index("ix_users_manager", _users.c.org_id, _users.c.manager_id)
Index("ix_users_external_id", _users.c.org_id, _users.c.external_id)
# A userName is unique among the people who are not deleted (a deleted person's name is free at
# once, like their email); lookups by userName use it too.
Index(
    "uq_users_scim_user_name_key",
    _users.c.org_id,
    _users.c.scim_user_name_key,
    unique=True,
    sqlite_where=text("status != 'deleted'"),
    postgresql_where=text("status != 'deleted'"),
)

register(
    UserReference(
        kind="scim.user.manager",
        table="users",
        column="manager_id",
        label="People they manage",
        meaning=Meaning.MANAGER,
        dispositions=(Disposition.SUCCESSOR, Disposition.SYSTEM_USER),
        nullable=True,
    )
)
register(
    UserReference(
        kind="scim.token.creator",
        table="scim_tokens",
        column="created_by",
        label="SCIM tokens they created",
        meaning=Meaning.CREATOR,
        handling=Handling.RECORD,
    )
)
