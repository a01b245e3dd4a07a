"""time zones: the organization's, and each person's own choice

Revision ID: 0014
Revises: 0013

Pages show times in the viewer's zone: their own (``users.timezone``) or, when they chose none,
their organization's (``organizations.timezone``, UTC until an admin sets it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False))
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("timezone")
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("timezone")
