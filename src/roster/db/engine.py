"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class WriterBusy(Exception):
    """Another writer holds SQLite's writer gate or write lock, and this transaction may not wait
    for it (an engine made ``write_now``): nothing was written, and the work can be done again
    where waiting is allowed."""


def make_engine(url: str, *, read_only_now: bool = False, write_now: bool = False, **kwargs: Any) -> Engine:
    """An engine with Roster's connection rules.

    SQLite: WAL, foreign keys on, a busy timeout, and real transactions: pysqlite's own implicit
    BEGIN is turned off so SAVEPOINTs work and writers can ask for ``BEGIN IMMEDIATE`` (see
    :func:`writer`), which takes the write lock up front instead of failing on lock upgrade.
    Such writers first pass the database's writer gate (:func:`writer_gate_path`).

    ``read_only_now`` (SQLite only) makes connections that refuse to write (``query_only``) and
    never wait for a lock (no busy timeout): for work done on the event loop (``point_reads``),
    which must fail at once rather than wait. ``write_now`` (SQLite only) makes connections whose
    writing transactions never wait either, for the writer gate or for SQLite's lock: they raise
    ``WriterBusy`` at BEGIN instead (``writes_now``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        busy_timeout_ms = 0 if read_only_now or write_now else SQLITE_BUSY_TIMEOUT_MS
        gate_mode = fcntl.LOCK_EX | fcntl.LOCK_NB if write_now else fcntl.LOCK_EX
        connect_args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        gate = None if read_only_now else writer_gate_path(database)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            if gate is not None:
                gate_fd = _open_gate(gate)
                if gate_fd is not None:
                    record.info[_GATE] = gate_fd
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            if read_only_now:
                cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Straight to the driver: every transaction runs this, and SQLAlchemy's execution
            # machinery (events, an execution context, a result) cost more than the BEGIN itself.
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            gate_fd = conn.connection.info.get(_GATE) if mode != "DEFERRED" else None
            if gate_fd is not None:
                try:
                    fcntl.flock(gate_fd, gate_mode)  # held until the connection is checked in
                except BlockingIOError:  # write_now: another writer is at work
                    raise WriterBusy("another writer holds the writer gate") from None
            try:
                conn.connection.driver_connection.execute(_BEGIN[mode])
            except BaseException as exc:
                if gate_fd is not None:
                    fcntl.flock(gate_fd, fcntl.LOCK_UN)
                if write_now and isinstance(exc, sqlite3.OperationalError):  # busy, without waiting
                    raise WriterBusy(f"SQLite's write lock is taken ({exc})") from exc
                raise

        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            # After the pool's reset: the connection's transaction has ended, whichever way.
            gate_fd = record.info.get(_GATE)
            if gate_fd is not None:
                fcntl.flock(gate_fd, fcntl.LOCK_UN)

        @event.listens_for(engine, "close")
        def _on_close(_dbapi_connection: Any, record: Any) -> None:
            gate_fd = record.info.pop(_GATE, None)
            if gate_fd is not None:
                os.close(gate_fd)  # which also opens the gate, if this connection held it

        return engine

    # Fail fast when the server is gone (answer 503) and reconnect by itself when it is back.
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


_GATE = "roster_writer_gate"
log = logging.getLogger(__name__)


def _open_gate(path: str) -> int | None:
    """A connection's own descriptor of the gate file, or None where the file system cannot lock
    it (the connection then meets SQLite's lock and busy timeout alone, as before the gate).

    Each connection opens the file itself: ``flock`` locks conflict between open files, so the
    connections of one process queue as those of two processes do.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("no writer gate at %s: %s", path, exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # can this file system lock at all?
    except BlockingIOError:
        return fd  # it can: another connection holds it
    except OSError as exc:
        os.close(fd)
        log.warning("no writer gate at %s: %s", path, exc)
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    return fd


def writer_gate_path(database: str | None) -> str | None:
    """The file whose lock (``flock``) a writing transaction takes before SQLite's write lock, or
    None for an in-memory database.

    SQLite lets one transaction write at a time. One that finds the write lock taken waits in
    SQLite's busy handler, which sleeps between tries (1 ms, then 2, 5, 10 ms and on), so the
    lock can stand free for milliseconds while writers sleep, where a write takes one or two.
    Writers queued on a file lock are woken by the kernel the moment it is released: SCIM creates
    from two worker processes went 21-34% faster (bench/NOTES.md). As with a row lock on
    PostgreSQL, a writer waits as long as the one before it writes. The file lock is released
    when the writer's connection returns to its pool, or closes (a process that dies releases its
    own); the event loop's writing connection, which stays checked out, releases it when each
    transaction ends (``WritesNow``). Writers that do not take the gate (another program) still
    meet SQLite's lock and busy timeout.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writer"


def writer(engine: Engine | Connection) -> Engine | Connection:
    """The same engine, but transactions that will write take SQLite's write lock at BEGIN (after
    its writer gate)."""
    if engine.dialect.name == "sqlite" and isinstance(engine, Engine):
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def autocommit_reads(bind: Engine | Connection) -> Engine | None:
    """On PostgreSQL, the same engine with its connections in autocommit, for short reads; None
    elsewhere (SQLite, or a test's connection, which has a transaction of its own).

    A read in a transaction costs two round trips beyond its statements: psycopg's ``BEGIN`` before
    the first, and the ``COMMIT``. Under PostgreSQL's READ COMMITTED each statement already reads
    a snapshot of its own, so a read's statements see the same rows without them. Only work whose
    writes are single statements may use it (a token's use recorded, once a minute): each
    statement commits by itself. The isolation level is a setting of the connection, applied when
    it is checked out and undone when it goes back to the pool, with no round trip either way.
    """
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        return bind.execution_options(isolation_level="AUTOCOMMIT")
    return None


def read_one_snapshot(session: Session) -> None:
    """Have every statement of the session's next transaction read the same snapshot, for a long
    read that must be consistent with itself (a person's data download). Call it before the
    session's first statement.

    SQLite's read transaction already reads one snapshot from its first statement to its end.
    PostgreSQL's default, READ COMMITTED, gives each statement a snapshot of its own, so rows
    committed between two statements would show in the second: there the transaction is made
    REPEATABLE READ and READ ONLY. A test's connection, already in a transaction, is left as it is.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )


class _OnTheLoop:
    """What work done on the event loop itself runs on: an engine of its own (``_loop_bind``), or
    a test's connection, lent as it is."""

    def __init__(self, bind: Engine | Connection) -> None:
        self._bind = bind

    def dispose(self) -> None:
        """Close the engine's connection (a test's connection is its own)."""
        if isinstance(self._bind, Engine):
            self._bind.dispose()


def _loop_bind(bind: Engine | Connection, **options: bool) -> Engine | Connection | None:
    """For work on the event loop: on SQLite, an engine of its own on the same file with one
    connection, which is never waited for (the loop does one such piece of work at a time) and is
    made with ``options`` (``read_only_now``, ``write_now``); a test's connection as it is. None on
    PostgreSQL, where every statement is a network round trip that must not hold up the event
    loop, and for an in-memory database, where a second engine would open another, empty one."""
    if bind.dialect.name != "sqlite":
        return None
    if isinstance(bind, Connection):
        return bind
    if bind.url.database in (None, "", ":memory:"):
        return None
    url = bind.url.render_as_string(hide_password=False)
    return make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0, **options)


class PointReads(_OnTheLoop):
    """Connections for small reads answered on the event loop itself (``point_reads``).

    The engine's one connection is kept checked out between reads: the event loop does one read
    at a time, and checking it out of the pool and back in (with the pool's reset) cost a token's
    read more than the read itself. Each read's transaction still ends with its block, so the
    next read sees what was committed in between.
    """

    def __init__(self, bind: Engine | Connection) -> None:
        super().__init__(bind)
        self._kept: Connection | None = None
        self._lent = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for one read; its transaction ends (rolled back: it wrote nothing) when
        the block does. A read begun inside another read gets none (``PoolTimeout``: the one
        connection is in use). A test's connection is lent as it is."""
        if isinstance(self._bind, Connection):
            yield self._bind
            return
        if self._lent:  # the pool's one connection is out: this raises at once
            with self._bind.connect() as connection:
                yield connection
            return
        kept = self._kept
        if kept is None or kept.closed or kept.invalidated:
            kept = self._kept = self._bind.connect()
        self._lent = True
        try:
            yield kept
        finally:
            self._lent = False
            try:
                kept.rollback()
            except Exception:  # a connection that cannot end its transaction is not kept
                self._kept = None
                kept.close()
                raise

    def dispose(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        super().dispose()


def point_reads(bind: Engine | Connection) -> PointReads | None:
    """Connections for small reads answered on the event loop itself, or None where there are none
    (``_loop_bind``).

    Handing a request to a worker thread and back costs a SCIM lookup about a seventh of its
    time (bench/NOTES.md). On SQLite a read by key needs no network and, in WAL mode, no lock, so
    the few requests that are such reads may skip the hand-over. They use a plain Connection, not
    a Session (they read rows and change nothing), of an engine of their own, which refuses to
    write and never waits for a lock (``read_only_now``). Work that would write or wait raises at
    once instead, and its caller does it again on a worker thread. On a test's connection the
    reads are on that connection, like every session's.
    """
    own = _loop_bind(bind, read_only_now=True)
    return None if own is None else PointReads(own)


def make_sessionmaker(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on an engine, or on a test's connection (their commits become savepoints)."""
    # Every feature's models, reference declarations and mapper events (the directory's search
    # keys) must be in place before any session writes, whichever entry point made the session:
    # a CLI command that only imports accounts would otherwise insert users without search keys.
    import roster.db.models  # noqa: F401

    # And configured now: objects built straight from rows (``roster.db.prepared.instance_of``) are
    # not the ORM's own loads, which would configure the mappers first, so a process whose first
    # write builds one would find its attributes not yet instrumented.
    configure_mappers()
    return sessionmaker(
        bind=bind, expire_on_commit=False, autoflush=True, join_transaction_mode="create_savepoint"
    )


@contextmanager
def transaction(factory: Callable[[], Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. ``factory`` makes the session
    (a ``sessionmaker``)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class WritesNow(_OnTheLoop):
    """Sessions for small writes done on the event loop itself (``writes_now``).

    As with ``PointReads``, the engine's one connection is kept checked out between writes:
    checking it out of the pool and back in, with the pool's reset, cost a SCIM create about a
    tenth of its time on the event loop. A connection otherwise holds the writer gate from its
    writing BEGIN until it is checked in (``writer_gate_path``); this one gives the gate back as
    soon as its transaction has ended, committed or rolled back.
    """

    def __init__(self, bind: Engine | Connection) -> None:
        super().__init__(bind)
        self.sessions = make_sessionmaker(writer(bind))
        self._kept: Connection | None = None
        self._lent = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one write, in one transaction: committed when the block ends, rolled back
        if it raises. Its BEGIN raises ``WriterBusy`` where another writer is at work, and a
        write begun inside another gets no connection (``PoolTimeout``, the one connection is in
        use); either way before anything is written. On a test's connection the session is an
        ordinary one of ``sessions``."""
        bind = self._bind
        if isinstance(bind, Connection) or self._lent:
            with transaction(self.sessions) as session:
                yield session
            return
        kept = self._kept
        if kept is None or kept.closed or kept.invalidated:
            writing = writer(bind)
            assert isinstance(writing, Engine)
            kept = self._kept = writing.connect()
        self._lent = True
        try:  # the session begins, and ends, the connection's transaction
            with transaction(partial(self.sessions, bind=kept)) as session:
                yield session
        finally:
            self._lent = False
            self._end(kept)

    def _end(self, kept: Connection) -> None:
        """Leave the kept connection out of any transaction, and open the writer gate."""
        try:
            if kept.in_transaction():  # only where the session could not end it
                kept.rollback()
        except Exception:  # a connection that cannot end its transaction is not kept
            self._kept = None
            kept.close()  # its pool's check-in opens the gate
            raise
        if kept.closed or kept.invalidated:  # its driver connection was closed, and the gate with it
            return
        gate_fd = kept.connection.info.get(_GATE)
        if gate_fd is not None:
            fcntl.flock(gate_fd, fcntl.LOCK_UN)

    def dispose(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        super().dispose()


def writes_now(bind: Engine | Connection) -> WritesNow | None:
    """Sessions for writes that may be done on the event loop itself, or None where there are none
    (``_loop_bind``).

    A SQLite write handed to the writer thread and back spends part of its time in the hand-over
    itself (bench/NOTES.md). When no other writer is at work, a small write can be done where
    the request already is. These sessions' transactions never wait (``write_now``): if the
    writer gate or SQLite's write lock is taken, BEGIN raises ``WriterBusy`` before anything is
    written, and the caller hands the work to the writer thread, where waiting is allowed. So the
    event loop never waits for another writer; it is busy only for the write's own work. On a
    test's connection the writes are on that connection, like every session's.
    """
    own = _loop_bind(bind, write_now=True)
    return None if own is None else WritesNow(own)
