"""Create or migrate a database to the newest schema."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Run every migration up to ``revision`` on the database at ``url``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Undo migrations down to ``revision`` on the database at ``url``."""
    command.downgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str:
    """The newest schema revision this Roster's migrations know."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(rev.revision for rev in script.walk_revisions())


def schema_problem(connection: Connection) -> str | None:
    """Why the database cannot serve this Roster: no schema, an older one, or one a newer Roster
    made; None when it is at this Roster's newest revision."""
    if not inspect(connection).has_table("alembic_version"):
        return "The database has no Roster tables: run `roster db upgrade`."
    versions = list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    head = head_revision()
    if versions == [head]:
        return None
    if not versions:
        return "The database has no Roster tables: run `roster db upgrade`."
    if all(v in known_revisions() for v in versions):
        return (
            f"The database's schema is older than this Roster's ({', '.join(versions)}; this Roster "
            f"needs {head}): run `roster db upgrade`."
        )
    return (
        f"The database's schema ({', '.join(versions)}) is newer than this Roster knows (up to "
        f"{head}): run the Roster that migrated it."
    )
