"""Organizations, users and their credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, TenantMixin
from roster.domain.users import Role, UserStatus
from roster.ids import new_id
from roster.references import Disposition, Handling, Meaning, UserReference, register

# Folded names for prefix search (roster.directory.keys). Byte order ("C") on PostgreSQL, so a
# prefix is one index range whatever the database's locale.
SEARCH_KEY_LENGTH = 400
SearchKey = String(SEARCH_KEY_LENGTH).with_variant(String(SEARCH_KEY_LENGTH, collation="C"), "postgresql")


class Organization(Base):
    """A tenant. Not itself a tenant table: it is the key everything else is distributed by."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(20), default="free")
    restore_window_days: Mapped[int] = mapped_column(default=30, server_default=text("30"))
    employees_may_change_photo: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    show_former_employee_names: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    # The zone pages show times in for its people who chose none (roster.domain.timezones).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Guarded seat counter (active users + pending invitations), see lifecycle/seats.py.
    seats_used: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # Head of the organization's audit chain, so removing the newest events is detected too.
    audit_seq: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    audit_head: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class User(TenantMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # The email is unique among the users that hold it: a deleted user's email_key is NULL, so
        # the address is free at once (and comes back on restore when nobody took it).
        UniqueConstraint("org_id", "email_key"),
        # The organization's one System User, which receives deleted people's content: found by
        # this index, not by reading every person of the organization (``get_system_user``).
        Index(
            "uq_users_system_user",
            "org_id",
            unique=True,
            sqlite_where=text("is_system = 1"),
            postgresql_where=text("is_system = true"),
        ),
    )

    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default=Role.EMPLOYEE.value)
    status: Mapped[str] = mapped_column(String(20), default=UserStatus.ACTIVE.value)
    is_system: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    dismissed_at: Mapped[datetime | None] = mapped_column()
    deleted_at: Mapped[datetime | None] = mapped_column()
    restorable_until: Mapped[datetime | None] = mapped_column()
    # Directory (roster.directory): search keys kept in step by mapper events, the primary
    # department, and the photo's version (NULL: no photo, the initials avatar is served).
    first_name_key: Mapped[str] = mapped_column(SearchKey, default="", server_default="")
    last_name_key: Mapped[str] = mapped_column(SearchKey, default="", server_default="")
    display_name_key: Mapped[str] = mapped_column(SearchKey, default="", server_default="")
    email_search_key: Mapped[str] = mapped_column(SearchKey, default="", server_default="")
    primary_department_id: Mapped[uuid.UUID | None] = mapped_column()
    photo_version: Mapped[int | None] = mapped_column()
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the organization's
    # SCIM (roster.scim): the identity provider's userName (NULL: the email is the userName) and
    # its casefolded key, the email's type, the provider's own id, and the enterprise extension's
    # employee number, department (its text, as the provider sends it) and manager (a user column,
    # registered in roster/scim/models.py with its constraint and indexes).
    scim_user_name: Mapped[str | None] = mapped_column(String(320))
    scim_user_name_key: Mapped[str | None] = mapped_column(String(320))
    scim_email_type: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(255))
    employee_number: Mapped[str | None] = mapped_column(String(100))
    scim_department: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[uuid.UUID | None] = mapped_column()

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE.value and not self.is_system

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value


class AuthToken(TenantMixin, Base):
    """A server-side session (cookie), an API bearer token from login, or a personal access token.

    Only a SHA-256 of the secret is stored. The secret itself carries the organization id, so a
    lookup is by ``(org_id, token_hash)`` and stays within one shard.
    """

    __tablename__ = "auth_tokens"
    __table_args__ = (
        UniqueConstraint("org_id", "token_hash"),
        ForeignKeyConstraint(["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"),
        Index("ix_auth_tokens_user", "org_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))  # session | bearer | pat
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()


class PasswordReset(TenantMixin, Base):
    __tablename__ = "password_resets"
    __table_args__ = (
        UniqueConstraint("org_id", "token_hash"),
        ForeignKeyConstraint(["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"),
        Index("ix_password_resets_user", "org_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


register(
    UserReference(
        kind="accounts.token.holder",
        table="auth_tokens",
        column="user_id",
        label="Sessions and access tokens",
        meaning=Meaning.HOLDER,
        dispositions=(Disposition.DELETE,),
        handling=Handling.CREDENTIAL,
    )
)
register(
    UserReference(
        kind="accounts.password_reset.holder",
        table="password_resets",
        column="user_id",
        label="Password reset links",
        meaning=Meaning.HOLDER,
        dispositions=(Disposition.DELETE,),
        handling=Handling.CREDENTIAL,
    )
)
