"""scim: provisioning tokens and external ids

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_tokens",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "created_by"],
            ["users.org_id", "users.id"],
            name=op.f("fk_scim_tokens_org_id_created_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_scim_tokens_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_scim_tokens")),
        sa.UniqueConstraint("org_id", "token_hash", name=op.f("uq_scim_tokens_org_id_token_hash")),
    )
    with op.batch_alter_table("scim_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_scim_tokens_created_by", ["org_id", "created_by"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scim_user_name", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("scim_user_name_key", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("scim_email_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("employee_number", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("scim_department", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("manager_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_users_external_id", ["org_id", "external_id"], unique=False)
        batch_op.create_index("ix_users_manager", ["org_id", "manager_id"], unique=False)
        batch_op.create_index(
            "uq_users_scim_user_name_key",
            ["org_id", "scim_user_name_key"],
            unique=True,
            sqlite_where=sa.text("status != 'deleted'"),
            postgresql_where=sa.text("status != 'deleted'"),
        )
        batch_op.create_foreign_key(
            "fk_users_org_id_manager_id_users", "users", ["org_id", "manager_id"], ["org_id", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("fk_users_org_id_manager_id_users", type_="foreignkey")
        batch_op.drop_index(
            "uq_users_scim_user_name_key",
            sqlite_where=sa.text("status != 'deleted'"),
            postgresql_where=sa.text("status != 'deleted'"),
        )
        batch_op.drop_index("ix_users_manager")
        batch_op.drop_index("ix_users_external_id")
        batch_op.drop_column("manager_id")
        batch_op.drop_column("scim_department")
        batch_op.drop_column("employee_number")
        batch_op.drop_column("external_id")
        batch_op.drop_column("scim_email_type")
        batch_op.drop_column("scim_user_name_key")
        batch_op.drop_column("scim_user_name")

    with op.batch_alter_table("scim_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_tokens_created_by")

    op.drop_table("scim_tokens")
