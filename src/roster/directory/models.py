"""Departments, department membership, profile photos, and the directory's indexes on ``users``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.accounts.models import User
from roster.db.base import Base, Hideable, TenantMixin
from roster.directory import keys  # noqa: F401  (registers the search-key mapper events)
from roster.references import Disposition, Handling, Meaning, UserReference, register

# Only active, non-system people are ever suggested to anyone: the search indexes hold nobody else,
# so a query that uses them cannot leak a dismissed or deleted name, and they stay small.
ACTIVE_PEOPLE_SQLITE = text("status = 'active' AND is_system = 0")
ACTIVE_PEOPLE_POSTGRESQL = text("status = 'active' AND is_system = false")
SEARCH_KEY_COLUMNS = ("first_name_key", "last_name_key", "display_name_key", "email_search_key")

for _column in SEARCH_KEY_COLUMNS:
    Index(
        f"ix_users_active_{_column}",
        User.__table__.c.org_id,
        User.__table__.c[_column],
        sqlite_where=ACTIVE_PEOPLE_SQLITE,
        postgresql_where=ACTIVE_PEOPLE_POSTGRESQL,
    )
# Admin listings of everyone by name (status=all|dismissed|deleted). No status column in it: a
# (status, name) index would compete with the partial indexes for the autocomplete's name branch.
Index("ix_users_name", User.__table__.c.org_id, User.__table__.c.display_name_key)
# The people who left, by status: the admin's Dismissed and Deleted tabs are counted from it alone
# (``people.tab_counts``). Only people who are not active are in it, so the active people's
# statements (the autocomplete above all) cannot pick it.
FORMER_PEOPLE = text("status <> 'active'")
Index(
    "ix_users_former",
    User.__table__.c.org_id,
    User.__table__.c.status,
    User.__table__.c.is_system,
    sqlite_where=FORMER_PEOPLE,
    postgresql_where=FORMER_PEOPLE,
)


class Department(TenantMixin, Base):
    """A unit of the company structure; ``parent_id`` makes the tree."""

    __tablename__ = "departments"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "parent_id"], ["departments.org_id", "departments.id"]),
        ForeignKeyConstraint(["org_id", "head_id"], ["users.org_id", "users.id"]),
        Index("ix_departments_parent", "org_id", "parent_id"),
        Index("ix_departments_head", "org_id", "head_id"),
        Index("ix_departments_name_key", "org_id", "name_key"),
        Index("ix_departments_external_id", "org_id", "external_id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # casefolded, for filters and order
    parent_id: Mapped[uuid.UUID | None] = mapped_column()
    head_id: Mapped[uuid.UUID | None] = mapped_column()
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class DepartmentMember(TenantMixin, Hideable, Base):
    """A person's membership of a department; a user may belong to several."""

    __tablename__ = "department_members"
    __table_args__ = (
        UniqueConstraint("org_id", "department_id", "user_id"),
        ForeignKeyConstraint(
            ["org_id", "department_id"], ["departments.org_id", "departments.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["org_id", "user_id"], ["users.org_id", "users.id"]),
        Index("ix_department_members_user", "org_id", "user_id"),
    )

    department_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class UserPhoto(Base):
    """A person's photo, re-encoded as square thumbnails (stored in the database, so backups and
    transactions cover them). ``users.photo_version`` names the current version in URLs."""

    __tablename__ = "user_photos"
    __table_args__ = (
        ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column()
    content_type: Mapped[str] = mapped_column(String(50))
    small: Mapped[bytes] = mapped_column(LargeBinary)  # 64 x 64
    large: Mapped[bytes] = mapped_column(LargeBinary)  # 256 x 256
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


register(
    UserReference(
        kind="directory.department.head",
        table="departments",
        column="head_id",
        label="Departments they head",
        meaning=Meaning.HEAD,
        dispositions=(Disposition.SUCCESSOR, Disposition.SYSTEM_USER),
        nullable=True,
    )
)
register(
    UserReference(
        kind="directory.department_member.user",
        table="department_members",
        column="user_id",
        label="Department memberships",
        meaning=Meaning.MEMBER,
        dispositions=(Disposition.SYSTEM_USER, Disposition.DELETE),
        unique_with=("department_id",),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="directory.photo.subject",
        table="user_photos",
        column="user_id",
        label="Profile photo",
        meaning=Meaning.SUBJECT,
        dispositions=(Disposition.DELETE,),
        handling=Handling.PERSONAL,
    )
)
