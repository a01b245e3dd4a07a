"""the authorship map's original-user index holds the kind and object too

Revision ID: 0015
Revises: 0014

What the System User still holds of one person's (their authorship page) is counted per kind from
the map's rows for that person, each checked against its row by the object's id, instead of from
everything the System User holds.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_authorship_original_user", table_name="authorship")
    op.create_index(
        "ix_authorship_original_user", "authorship", ["org_id", "original_user_id", "kind", "object_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_authorship_original_user", table_name="authorship")
    op.create_index("ix_authorship_original_user", "authorship", ["org_id", "original_user_id"])
