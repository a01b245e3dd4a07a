"""scim: provisioning tokens and external ids

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for the scim feature's tables


def downgrade() -> None:
    pass
