"""trash: deleted posts, comments, tasks, files and leads, restorable until their window ends

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trash_items",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restorable_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "actor_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_trash_items_org_id_actor_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_trash_items_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_trash_items")),
    )
    with op.batch_alter_table("trash_items", schema=None) as batch_op:
        batch_op.create_index("ix_trash_items_actor", ["org_id", "actor_id", "created_at"], unique=False)
        batch_op.create_index("ix_trash_items_due", ["purged_at", "restorable_until"], unique=False)
        batch_op.create_index("ix_trash_items_object", ["org_id", "object_id"], unique=False)
        batch_op.create_index("ix_trash_items_org_created", ["org_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trash_items", schema=None) as batch_op:
        batch_op.drop_index("ix_trash_items_org_created")
        batch_op.drop_index("ix_trash_items_object")
        batch_op.drop_index("ix_trash_items_due")
        batch_op.drop_index("ix_trash_items_actor")

    op.drop_table("trash_items")
