"""Create or migrate a database to the newest schema."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
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


def schema_differences(url: str) -> list[str]:
    """What the database's tables, columns and indexes lack or have beyond this Roster's models
    (what `alembic check` finds), each said in a few words; empty when they match. A database
    at the newest revision can still differ: changed by hand, or migrated by a development build
    whose migration was filled in later."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from roster.db.engine import make_engine
    from roster.db.models import Base

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return [_difference(d) for d in compare_metadata(context, Base.metadata)]
    finally:
        engine.dispose()


def _difference(diff: object) -> str:
    if isinstance(diff, list):  # changes to one column: ("modify_type", schema, table, column, ...)
        first = diff[0]
        return f"column {first[2]}.{first[3]} differs ({first[0].removeprefix('modify_')})"
    assert isinstance(diff, tuple)
    action, subject = diff[0], diff[-1]
    what = {"add": "missing", "remove": "not this Roster's"}.get(action.split("_")[0], action)
    if action.endswith("_column"):
        return f"column {diff[2]}.{subject.name} is {what}"
    if action.endswith("_table"):
        return f"table {subject.name} is {what}"
    kind = action.split("_", 1)[1].replace("fk", "foreign key")
    name = getattr(subject, "name", None) or str(subject)
    table = getattr(getattr(subject, "table", None), "name", None)
    return f"{kind} {name}{f' on {table}' if table else ''} is {what}"


def downgrade(url: str, revision: str) -> None:
    """Undo migrations down to ``revision`` on the database at ``url``."""
    command.downgrade(alembic_config(url), revision)


class DatabaseNewer(Exception):
    """The database was migrated by a newer Roster: its revision is not among this Roster's."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(
            f"the database is at revision {revision}, which this Roster does not know; it was "
            f"migrated by a newer Roster (this one knows up to {head}). Run the newer Roster, or "
            "restore a backup taken before it migrated the database."
        )
        self.revision = revision
        self.head = head


class DatabaseBehind(Exception):
    """The database is at an older revision than this Roster's: ``roster db upgrade`` is due."""

    def __init__(self, revision: str | None, head: str) -> None:
        super().__init__(
            "the database has no Roster tables yet"
            if revision is None
            else f"the database is at revision {revision}, older than this Roster's {head}"
        )
        self.revision = revision
        self.head = head


def database_revision(connection: Connection) -> str | None:
    """The revision the database was migrated to, as Alembic recorded it (None: never). Read
    straight from Alembic's table: configuring a migration context for it would log two lines on
    every ``/readyz`` probe."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().first()


@functools.cache
def _script() -> ScriptDirectory:
    """This Roster's migrations (read once per process: /readyz asks on every probe)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def check_revision(url: str, revision: str | None, *, behind_is_fine: bool = False) -> None:
    """DatabaseNewer when ``revision`` is not one of this Roster's migrations; DatabaseBehind when it
    is an older one (unless ``behind_is_fine``, as for the upgrade itself)."""
    script = _script()
    head = script.get_current_head() or "none"
    if revision is not None:
        try:
            script.get_revision(revision)
        except CommandError:  # alembic's "Can't locate revision"
            raise DatabaseNewer(revision, head) from None
    if revision != head and not behind_is_fine:
        raise DatabaseBehind(revision, head)


def schema_problem(connection: Connection) -> str | None:
    """Why the database cannot serve this Roster (no schema, an older one, or one a newer Roster
    made), for ``/readyz`` and the log at start; None when it is at this Roster's newest revision."""
    try:
        check_revision("sqlite://", database_revision(connection))
    except DatabaseNewer as exc:
        return (
            f"The database's schema ({exc.revision}) is newer than this Roster knows (up to "
            f"{exc.head}): run the Roster that migrated it."
        )
    except DatabaseBehind as exc:
        if exc.revision is None:
            return "The database has no Roster tables: run `roster db upgrade`."
        return (
            f"The database's schema is older than this Roster's ({exc.revision}; this Roster needs "
            f"{exc.head}): run `roster db upgrade`."
        )
    return None
