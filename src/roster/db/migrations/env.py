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
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
