"""work: tasks, drive, crm

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_leads",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("contact_phone", sa.String(length=50), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("responsible_id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "creator_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_crm_leads_org_id_creator_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "responsible_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_crm_leads_org_id_responsible_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_crm_leads_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_crm_leads")),
    )

    with op.batch_alter_table("crm_leads", schema=None) as batch_op:
        batch_op.create_index("ix_crm_leads_creator", ["org_id", "creator_id"], unique=False)
        batch_op.create_index("ix_crm_leads_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_crm_leads_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index("ix_crm_leads_responsible", ["org_id", "responsible_id"], unique=False)

    op.create_table(
        "drive_files",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("uploader_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "owner_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_drive_files_org_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "uploader_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_drive_files_org_id_uploader_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_drive_files_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_drive_files")),
    )

    with op.batch_alter_table("drive_files", schema=None) as batch_op:
        batch_op.create_index("ix_drive_files_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_drive_files_owner", ["org_id", "owner_id"], unique=False)
        batch_op.create_index("ix_drive_files_sha256", ["org_id", "sha256"], unique=False)
        batch_op.create_index("ix_drive_files_uploader", ["org_id", "uploader_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("responsible_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "creator_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_tasks_org_id_creator_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "responsible_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_tasks_org_id_responsible_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_tasks_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_tasks")),
    )

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_creator", ["org_id", "creator_id"], unique=False)
        batch_op.create_index("ix_tasks_responsible", ["org_id", "responsible_id"], unique=False)

    op.create_table(
        "task_observers",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "task_id"],
            ["tasks.org_id", "tasks.id"],
            name=op.f("fk_task_observers_org_id_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_task_observers_org_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_task_observers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_task_observers")),
        sa.UniqueConstraint(
            "org_id", "task_id", "user_id", name=op.f("uq_task_observers_org_id_task_id_user_id")
        ),
    )

    with op.batch_alter_table("task_observers", schema=None) as batch_op:
        batch_op.create_index("ix_task_observers_user", ["org_id", "user_id"], unique=False)

    op.create_table(
        "task_participants",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "task_id"],
            ["tasks.org_id", "tasks.id"],
            name=op.f("fk_task_participants_org_id_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_task_participants_org_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_task_participants_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_task_participants")),
        sa.UniqueConstraint(
            "org_id", "task_id", "user_id", name=op.f("uq_task_participants_org_id_task_id_user_id")
        ),
    )

    with op.batch_alter_table("task_participants", schema=None) as batch_op:
        batch_op.create_index("ix_task_participants_user", ["org_id", "user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_task_participants_user")

    op.drop_table("task_participants")

    with op.batch_alter_table("task_observers", schema=None) as batch_op:
        batch_op.drop_index("ix_task_observers_user")

    op.drop_table("task_observers")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_responsible")
        batch_op.drop_index("ix_tasks_creator")

    op.drop_table("tasks")

    with op.batch_alter_table("drive_files", schema=None) as batch_op:
        batch_op.drop_index("ix_drive_files_uploader")
        batch_op.drop_index("ix_drive_files_sha256")
        batch_op.drop_index("ix_drive_files_owner")
        batch_op.drop_index("ix_drive_files_org_created")

    op.drop_table("drive_files")

    with op.batch_alter_table("crm_leads", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_leads_responsible")
        batch_op.drop_index("ix_crm_leads_org_status")
        batch_op.drop_index("ix_crm_leads_org_created")
        batch_op.drop_index("ix_crm_leads_creator")

    op.drop_table("crm_leads")
