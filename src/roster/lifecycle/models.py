"""Invitations and the hash-chained audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import ColumnClause

from roster import clock
from roster.db.base import Base, JSONType, TenantMixin
from roster.references import Disposition, Handling, Meaning, UserReference, register

# A pending invitation, as statements should test it: written out rather than bound, so that it
# matches the partial index below. SQLite plans a statement again on every execution when a bound
# value decides whether a partial index applies (25 of the 32 µs of an address lookup, measured
# here), and PostgreSQL's generic plans cannot use such an index at all.
IS_PENDING: ColumnClause[str] = literal_column("'pending'", String)


class Invitation(TenantMixin, Base):
    """A pending seat for someone who has not signed up yet. Only a hash of the token is stored."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("org_id", "token_hash"),
        ForeignKeyConstraint(["org_id", "invited_by"], ["users.org_id", "users.id"]),
        ForeignKeyConstraint(["org_id", "accepted_user_id"], ["users.org_id", "users.id"]),
        # One pending invitation per address: concurrent invites of one email cannot both succeed.
        Index(
            "uq_invitations_pending_email",
            "org_id",
            "email_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_invitations_status", "org_id", "status", "expires_at"),
        # The list, newest first: read in its order rather than every invitation sorted per page.
        Index("ix_invitations_created", "org_id", "created_at", "id"),
        Index("ix_invitations_invited_by", "org_id", "invited_by"),
    )

    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="employee")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[uuid.UUID | None] = mapped_column()
    invited_by: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column()
    sent_count: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    accepted_at: Mapped[datetime | None] = mapped_column()
    accepted_user_id: Mapped[uuid.UUID | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(TenantMixin, Base):
    """One entry of an organization's append-only, hash-chained audit log.

    ``hash`` chains ``prev_hash``, the event's structural fields and ``personal_digest`` (a digest of
    the personal fields: display names and details). Erasure may rewrite the personal fields; it
    records each rewrite in ``redactions`` and attests it in its own chained event, so verification
    can tell a lawful redaction from an edit.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        ForeignKeyConstraint(["org_id", "actor_id"], ["users.org_id", "users.id"]),
        ForeignKeyConstraint(["org_id", "subject_id"], ["users.org_id", "users.id"]),
        Index("ix_audit_events_created", "org_id", "created_at"),
        # The log filtered by who or what, newest first: each filter's index ends in ``seq``, so a
        # page is read in order from the matching events alone (with (org_id, actor_id) only, a
        # filter matching few events walked the whole log backwards by ``seq``).
        Index("ix_audit_events_actor", "org_id", "actor_id", "seq"),
        Index("ix_audit_events_subject", "org_id", "subject_id", "seq"),
        Index("ix_audit_events_action", "org_id", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    subject_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_display: Mapped[str] = mapped_column(String(200), default="")
    subject_display: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    personal_digest: Mapped[str] = mapped_column(String(64))
    redactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


register(
    UserReference(
        kind="lifecycle.invitation.inviter",
        table="invitations",
        column="invited_by",
        label="Invitations sent",
        meaning=Meaning.INVITER,
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR),
    )
)
register(
    UserReference(
        kind="lifecycle.invitation.accepted_user",
        table="invitations",
        column="accepted_user_id",
        label="Invitation they accepted",
        meaning=Meaning.SUBJECT,
        dispositions=(),
        handling=Handling.RECORD,
        nullable=True,
    )
)
register(
    UserReference(
        kind="lifecycle.audit.actor",
        table="audit_events",
        column="actor_id",
        label="Audit log entries they made",
        meaning=Meaning.ACTOR,
        dispositions=(),
        handling=Handling.RECORD,
        nullable=True,
    )
)
register(
    UserReference(
        kind="lifecycle.audit.subject",
        table="audit_events",
        column="subject_id",
        label="Audit log entries about them",
        meaning=Meaning.SUBJECT,
        dispositions=(),
        handling=Handling.RECORD,
        nullable=True,
    )
)
