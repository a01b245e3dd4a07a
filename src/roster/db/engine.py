"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with Roster's connection rules.

    SQLite: WAL, foreign keys on, a busy timeout, and real transactions: pysqlite's own implicit
    BEGIN is turned off so SAVEPOINTs work and writers can ask for ``BEGIN IMMEDIATE`` (see
    :func:`writer`), which takes the write lock up front instead of failing on lock upgrade.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Straight to the driver: every transaction runs this, and SQLAlchemy's execution
            # machinery (events, an execution context, a result) cost more than the BEGIN itself.
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.connection.driver_connection.execute(_BEGIN[mode])

        return engine

    # Fail fast when the server is gone (answer 503) and reconnect by itself when it is back.
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def writer(engine: Engine | Connection) -> Engine | Connection:
    """The same engine, but transactions that will write take SQLite's write lock at BEGIN."""
    if engine.dialect.name == "sqlite" and isinstance(engine, Engine):
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def make_sessionmaker(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on an engine, or on a test's connection (their commits become savepoints)."""
    # Every feature's models, reference declarations and mapper events (the directory's search
    # keys) must be in place before any session writes, whichever entry point made the session:
    # a CLI command that only imports accounts would otherwise insert users without search keys.
    import roster.db.models  # noqa: F401

    return sessionmaker(
        bind=bind, expire_on_commit=False, autoflush=True, join_transaction_mode="create_savepoint"
    )


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
