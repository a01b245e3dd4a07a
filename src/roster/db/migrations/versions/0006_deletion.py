"""deletion: operations and the authorship map

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_operations",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("successor_id", sa.Uuid(), nullable=True),
        sa.Column("dispositions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restorable_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "actor_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_lifecycle_operations_org_id_actor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "successor_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_lifecycle_operations_org_id_successor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_lifecycle_operations_org_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_lifecycle_operations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_lifecycle_operations")),
    )
    with op.batch_alter_table("lifecycle_operations", schema=None) as batch_op:
        batch_op.create_index("ix_lifecycle_operations_due", ["purged_at", "restorable_until"], unique=False)
        batch_op.create_index(
            "ix_lifecycle_operations_user", ["org_id", "user_id", "created_at"], unique=False
        )

    op.create_table(
        "authorship",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("original_user_id", sa.Uuid(), nullable=False),
        sa.Column("original_display_name", sa.String(length=200), nullable=False),
        sa.Column("moved_to_id", sa.Uuid(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "moved_to_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_authorship_org_id_moved_to_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "operation_id"],
            ["lifecycle_operations.org_id", "lifecycle_operations.id"],
            name=op.f("fk_authorship_org_id_operation_id_lifecycle_operations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "original_user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_authorship_org_id_original_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_authorship_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "operation_id", "kind", "object_id", name=op.f("pk_authorship")),
    )
    with op.batch_alter_table("authorship", schema=None) as batch_op:
        batch_op.create_index("ix_authorship_object", ["org_id", "kind", "object_id"], unique=False)
        batch_op.create_index("ix_authorship_original_user", ["org_id", "original_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("authorship", schema=None) as batch_op:
        batch_op.drop_index("ix_authorship_original_user")
        batch_op.drop_index("ix_authorship_object")
    op.drop_table("authorship")
    with op.batch_alter_table("lifecycle_operations", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_operations_user")
        batch_op.drop_index("ix_lifecycle_operations_due")
    op.drop_table("lifecycle_operations")
