"""Alembic environment: runs against ROSTER_DATABASE_URL (or a connection handed in by the app)."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB

from roster.db.base import UTCDateTime
from roster.db.engine import make_engine
from roster.db.models import Base
from roster.settings import get_settings

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Migrations spell column types with SQLAlchemy's own names, never the app's classes."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, sa.JSON) and not isinstance(obj, JSONB):
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # SQLite changes a table in batch mode by copying it and dropping the old one; with foreign
    # keys on, that drop deletes every row pointing at the old table (ON DELETE CASCADE): changing
    # ``organizations`` would empty ``users``. They are off while migrating, as Alembic advises,
    # and checked before the commit. (The pragma does nothing inside a transaction: a connection
    # handed in already in one keeps them on.)
    switch = sqlite and not connection.in_transaction()
    if switch:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
            if switch:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
    finally:
        if switch:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
