"""lifecycle: invitations, seats, audit log, authorship map

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for the lifecycle feature's tables


def downgrade() -> None:
    pass
