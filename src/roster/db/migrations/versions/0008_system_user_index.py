"""the System User found by a partial unique index

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_users_system_user",
        "users",
        ["org_id"],
        unique=True,
        sqlite_where=sa.text("is_system = 1"),
        postgresql_where=sa.text("is_system = true"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_users_system_user",
        table_name="users",
        sqlite_where=sa.text("is_system = 1"),
        postgresql_where=sa.text("is_system = true"),
    )
