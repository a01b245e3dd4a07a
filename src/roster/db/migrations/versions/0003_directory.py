"""directory: departments, photos, search keys

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEARCH_KEY_LENGTH = 400


def _search_key(value: str | None) -> str:
    # A copy of roster.directory.keys.search_key as it was when this migration was written.
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFKD", stripped.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(folded.split())[:SEARCH_KEY_LENGTH]


def _backfill_search_keys() -> None:
    bind = op.get_bind()
    users = sa.table(
        "users",
        sa.column("org_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("first_name_key", sa.String()),
        sa.column("last_name_key", sa.String()),
        sa.column("display_name_key", sa.String()),
        sa.column("email_search_key", sa.String()),
    )
    rows = bind.execute(
        sa.select(
            users.c.org_id,
            users.c.id,
            users.c.email,
            users.c.first_name,
            users.c.last_name,
            users.c.display_name,
        )
    ).all()
    batch = [
        {
            "k_org": r.org_id,
            "k_id": r.id,
            "first": _search_key(r.first_name),
            "last": _search_key(r.last_name),
            "display": _search_key(r.display_name),
            "email": _search_key(r.email),
        }
        for r in rows
    ]
    statement = (
        users.update()
        .where(users.c.org_id == sa.bindparam("k_org"), users.c.id == sa.bindparam("k_id"))
        .values(
            first_name_key=sa.bindparam("first"),
            last_name_key=sa.bindparam("last"),
            display_name_key=sa.bindparam("display"),
            email_search_key=sa.bindparam("email"),
        )
    )
    for start in range(0, len(batch), 5000):
        bind.execute(statement, batch[start : start + 5000])


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("head_id", sa.Uuid(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "head_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_departments_org_id_head_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "parent_id"],
            ["departments.org_id", "departments.id"],
            name=op.f("fk_departments_org_id_parent_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_departments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_departments")),
    )
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.create_index("ix_departments_external_id", ["org_id", "external_id"], unique=False)
        batch_op.create_index("ix_departments_head", ["org_id", "head_id"], unique=False)
        batch_op.create_index("ix_departments_name_key", ["org_id", "name_key"], unique=False)
        batch_op.create_index("ix_departments_parent", ["org_id", "parent_id"], unique=False)

    op.create_table(
        "user_photos",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("small", sa.LargeBinary(), nullable=False),
        sa.Column("large", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_user_photos_org_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_user_photos_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_user_photos")),
    )
    op.create_table(
        "department_members",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "department_id"],
            ["departments.org_id", "departments.id"],
            name=op.f("fk_department_members_org_id_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["users.org_id", "users.id"],
            name=op.f("fk_department_members_org_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_department_members_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_department_members")),
        sa.UniqueConstraint(
            "org_id",
            "department_id",
            "user_id",
            name=op.f("uq_department_members_org_id_department_id_user_id"),
        ),
    )
    with op.batch_alter_table("department_members", schema=None) as batch_op:
        batch_op.create_index("ix_department_members_user", ["org_id", "user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "first_name_key",
                sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_name_key",
                sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "display_name_key",
                sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "email_search_key",
                sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("primary_department_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("photo_version", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_users_active_display_name_key",
            ["org_id", "display_name_key"],
            unique=False,
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.create_index(
            "ix_users_active_email_search_key",
            ["org_id", "email_search_key"],
            unique=False,
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.create_index(
            "ix_users_active_first_name_key",
            ["org_id", "first_name_key"],
            unique=False,
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.create_index(
            "ix_users_active_last_name_key",
            ["org_id", "last_name_key"],
            unique=False,
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.create_index("ix_users_name", ["org_id", "display_name_key"], unique=False)

    _backfill_search_keys()


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_name")
        batch_op.drop_index(
            "ix_users_active_last_name_key",
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.drop_index(
            "ix_users_active_first_name_key",
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.drop_index(
            "ix_users_active_email_search_key",
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.drop_index(
            "ix_users_active_display_name_key",
            sqlite_where=sa.text("status = 'active' AND is_system = 0"),
            postgresql_where=sa.text("status = 'active' AND is_system = false"),
        )
        batch_op.drop_column("photo_version")
        batch_op.drop_column("primary_department_id")
        batch_op.drop_column("email_search_key")
        batch_op.drop_column("display_name_key")
        batch_op.drop_column("last_name_key")
        batch_op.drop_column("first_name_key")

    with op.batch_alter_table("department_members", schema=None) as batch_op:
        batch_op.drop_index("ix_department_members_user")

    op.drop_table("department_members")
    op.drop_table("user_photos")
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_index("ix_departments_parent")
        batch_op.drop_index("ix_departments_name_key")
        batch_op.drop_index("ix_departments_head")
        batch_op.drop_index("ix_departments_external_id")

    op.drop_table("departments")
