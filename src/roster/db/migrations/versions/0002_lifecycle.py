"""lifecycle: invitations, seats, audit log, authorship map

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("actor_display", sa.String(length=200), nullable=False),
        sa.Column("subject_display", sa.String(length=200), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("personal_digest", sa.String(length=64), nullable=False),
        sa.Column("redactions", JSON, nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "actor_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_audit_events_org_id_actor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "subject_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_audit_events_org_id_subject_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_audit_events_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("org_id", "seq", name=op.f("uq_audit_events_org_id_seq")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action", ["org_id", "action"], unique=False)
        batch_op.create_index("ix_audit_events_actor", ["org_id", "actor_id"], unique=False)
        batch_op.create_index("ix_audit_events_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_audit_events_subject", ["org_id", "subject_id"], unique=False)

    op.create_table(
        "invitations",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("invited_by", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_user_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "accepted_user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_invitations_org_id_accepted_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "invited_by"],
            ["users.org_id", "users.id"],
            name=op.f("fk_invitations_org_id_invited_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("org_id", "token_hash", name=op.f("uq_invitations_org_id_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index("ix_invitations_invited_by", ["org_id", "invited_by"], unique=False)
        batch_op.create_index("ix_invitations_status", ["org_id", "status", "expires_at"], unique=False)
        batch_op.create_index(
            "uq_invitations_pending_email",
            ["org_id", "email_key"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_via", sa.String(length=20), nullable=True))

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seats_used", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(sa.Column("audit_seq", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("audit_head", sa.String(length=64), nullable=True))

    # Existing organizations start with their active people seated (no invitations existed before).
    op.execute(
        "UPDATE organizations SET seats_used = (SELECT count(*) FROM users"
        " WHERE users.org_id = organizations.id AND users.status = 'active' AND NOT users.is_system)"
    )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("audit_head")
        batch_op.drop_column("audit_seq")
        batch_op.drop_column("seats_used")

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("delivered_via")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_invitations_pending_email",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_invitations_status")
        batch_op.drop_index("ix_invitations_invited_by")

    op.drop_table("invitations")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_subject")
        batch_op.drop_index("ix_audit_events_created")
        batch_op.drop_index("ix_audit_events_actor")
        batch_op.drop_index("ix_audit_events_action")

    op.drop_table("audit_events")
