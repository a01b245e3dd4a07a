"""the people who left are counted from their own index

Revision ID: 0013
Revises: 0012

The admin's Dismissed and Deleted tabs show how many people each holds; those counts read every
person of the organization on each people page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_users_former",
        "users",
        ["org_id", "status", "is_system"],
        sqlite_where=sa.text("status <> 'active'"),
        postgresql_where=sa.text("status <> 'active'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_users_former",
        table_name="users",
        sqlite_where=sa.text("status <> 'active'"),
        postgresql_where=sa.text("status <> 'active'"),
    )
