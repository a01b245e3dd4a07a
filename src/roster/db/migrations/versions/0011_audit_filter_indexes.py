"""the audit log's actor, subject and action indexes end in seq

Revision ID: 0011
Revises: 0010

A page of the log filtered by actor, subject or action is read in ``seq`` order from the matching
events alone, instead of walking the whole log backwards by ``seq`` until the page fills.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_audit_events_actor": "actor_id",
    "ix_audit_events_subject": "subject_id",
    "ix_audit_events_action": "action",
}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name="audit_events")
        op.create_index(name, "audit_events", ["org_id", column, "seq"])


def downgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name="audit_events")
        op.create_index(name, "audit_events", ["org_id", column])
