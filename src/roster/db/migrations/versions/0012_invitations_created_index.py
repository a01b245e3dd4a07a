"""the invitations list is read newest first from an index

Revision ID: 0012
Revises: 0011

Every invitation an organization ever sent stays in the table (accepted, revoked, expired), and the
list sorted all of them on each page.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invitations_created", "invitations", ["org_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_invitations_created", table_name="invitations")
