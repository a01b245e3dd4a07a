"""The plumbing under every request: how transactions begin on SQLite, how work is handed to a
worker thread, and how /scim/v2 is routed ahead of the API."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from roster.concurrency import run_sync
from roster.db.engine import make_engine, make_sessionmaker, writer
from roster.scim.tokens import IssuedScimToken
from tests.dbutil import DatabaseFactory
from tests.factories import OrgWithAdmin, make_org

_WHO = contextvars.ContextVar("who", default="nobody")


@dataclass
class _Served:
    """Roster on engines of its own (not the suite's one shared connection), with an organization
    on the enterprise plan and a SCIM token of it."""

    url: str
    engine: Engine
    factory: sessionmaker[Session]
    org: OrgWithAdmin
    issued: IssuedScimToken
    client: TestClient

    @property
    def scim(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issued.secret}"}


@contextmanager
def _served_on_its_own_engines(databases: DatabaseFactory, tmp_path: Path) -> Iterator[_Served]:
    from roster.app import create_app
    from roster.db.engine import transaction
    from roster.scim.tokens import create_scim_token
    from tests.conftest import make_settings

    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            org = make_org(session, plan="enterprise")
            issued = create_scim_token(session, org.org.id, actor=org.admin, name="idp")
        with TestClient(create_app(make_settings(tmp_path, database_url=url), bind=engine)) as client:
            yield _Served(url, engine, factory, org, issued, client)
    finally:
        engine.dispose()


@contextmanager
def _write_lock_held(url: str) -> Iterator[None]:
    """SQLite's write lock, held by another program (which does not take Roster's writer gate)."""
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.close()


def _write_lock_is_free(path: str) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


@pytest.mark.sqlite_only  # SQLite's transaction modes
def test_writing_sessions_take_sqlites_write_lock_at_begin_and_reading_ones_do_not(
    databases: DatabaseFactory,
) -> None:
    url = databases.new_database()
    path = make_url(url).database
    assert path
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as reading:
            reading.execute(text("SELECT 1"))
            assert _write_lock_is_free(path)
        with make_sessionmaker(writer(engine))() as writing:
            writing.execute(text("SELECT 1"))  # nothing written yet: the lock comes with BEGIN
            assert not _write_lock_is_free(path)
            writing.rollback()
            assert _write_lock_is_free(path)
    finally:
        engine.dispose()


def test_run_sync_runs_off_the_event_loop_in_the_callers_context() -> None:
    def where() -> tuple[str, int]:
        return _WHO.get(), threading.get_ident()

    async def call() -> tuple[str, int, int]:
        _WHO.set("the request")
        who, thread = await run_sync(where)
        return who, thread, threading.get_ident()

    who, worker, loop = asyncio.run(call())
    assert who == "the request" and worker != loop


def test_scim_answers_carry_the_request_id_and_headers_every_answer_carries(
    client: TestClient, db: Session
) -> None:
    from roster.scim.tokens import create_scim_token

    o = make_org(db, plan="enterprise")
    secret = create_scim_token(db, o.org.id, actor=o.admin, name="idp").secret
    answer = client.get(
        "/scim/v2/Users", headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "trace-scim"}
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "trace-scim"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    # Only the SCIM prefix itself goes to the SCIM server; a look-alike path is the API's 404.
    beside = client.get("/scim/v2x/Users", headers={"Accept": "application/json"})
    assert beside.status_code == 404 and beside.headers["content-type"].startswith("application/problem+json")


def test_scim_writes_on_sqlite_are_done_on_the_event_loop_and_deletions_on_the_writer_thread(
    client: TestClient, db: Session
) -> None:
    """With no other writer at work, a SQLite write is done on the event loop itself
    (``writes_now``); a deletion, which can take long, goes to the process's one writer thread.
    Reads, and every request on PostgreSQL, go to the thread pool."""
    from sqlalchemy import event

    from roster.scim.tokens import create_scim_token

    o = make_org(db, plan="enterprise")
    scim = {"Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"}
    threads: set[str] = set()

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        threads.add(threading.current_thread().name.split("_")[0])

    def threads_of(method: str, path: str, **kwargs: object) -> set[str]:
        threads.clear()
        answer = client.request(method, f"/scim/v2{path}", headers=scim, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code < 300, answer.text
        return set(threads)

    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        body = {"userName": "p@example.com", "emails": [{"value": "p@example.com"}]}
        created = threads_of("POST", "/Users", json=body)
        person = client.get("/scim/v2/Users", params={"filter": 'userName eq "p@example.com"'}, headers=scim)
        replaced = threads_of("PUT", f"/Users/{person.json()['Resources'][0]['id']}", json=body)
        listed = threads_of("GET", "/Users", params={"count": 5})
        deleted = threads_of("DELETE", f"/Users/{person.json()['Resources'][0]['id']}")
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    if bind.dialect.name == "sqlite":
        (loop,) = created
        assert not loop.startswith("roster-")  # the request's own thread: the event loop's
        assert replaced == {loop}
        assert deleted == {loop, "roster-writer"}  # its token is read on the loop, then handed over
    else:
        assert created == replaced == deleted == {"roster-sync"}
    assert listed == {"roster-sync"}


@pytest.mark.sqlite_only  # writes_now is SQLite's
def test_a_write_that_would_wait_goes_to_the_writer_thread_and_the_event_loop_goes_on(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """A write done on the event loop must never wait there for another writer: with the writer
    gate taken (another worker process writing) or SQLite's lock taken (another program), it is
    handed to the writer thread, which waits its turn, while the loop answers other requests."""
    import fcntl
    import os
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    from roster.db.engine import writer_gate_path

    with _served_on_its_own_engines(databases, tmp_path) as served:
        client, scim = served.client, served.scim
        inserted_on: list[str] = []

        def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith("INSERT INTO users"):
                inserted_on.append(threading.current_thread().name.split("_")[0])

        @contextmanager
        def gate_taken() -> Iterator[None]:
            path = writer_gate_path(make_url(served.url).database)
            assert path is not None
            fd = os.open(path, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                os.close(fd)

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            with ThreadPoolExecutor(2) as pool:
                for number, held in enumerate((gate_taken, lambda: _write_lock_held(served.url))):
                    name = f"p{number}@example.com"
                    body = {"userName": name, "emails": [{"value": name}]}
                    with held():
                        pending = pool.submit(client.post, "/scim/v2/Users", json=body, headers=scim)
                        for path in ["/healthz", "/scim/v2/ServiceProviderConfig"] * 3:
                            # the event loop answers meanwhile (a blocked loop would time out here)
                            answer = pool.submit(client.get, path, headers=scim).result(timeout=10)
                            assert answer.status_code == 200
                        assert not pending.done()  # the write waits its turn, on the writer thread
                    assert pending.result(timeout=30).status_code == 201
            assert inserted_on == ["roster-writer", "roster-writer"]
            # With no other writer at work, the next write is done on the loop again.
            body = {"userName": "now@example.com", "emails": [{"value": "now@example.com"}]}
            assert client.post("/scim/v2/Users", json=body, headers=scim).status_code == 201
            assert not inserted_on[-1].startswith("roster-")
        finally:
            event.remove(Engine, "before_cursor_execute", seen)


def test_a_credentials_use_is_recorded_at_most_once_a_minute_for_people_and_identity_providers(
    client: TestClient, db: Session
) -> None:
    from datetime import timedelta

    from roster import clock
    from roster.accounts.models import AuthToken
    from roster.scim.models import ScimToken
    from roster.scim.tokens import create_scim_token
    from tests.factories import auth

    o = make_org(db, plan="enterprise")
    person = auth(db, o.admin)
    provider = {
        "Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"
    }

    def last_uses() -> tuple[object, object]:
        db.expire_all()
        mine = db.query(AuthToken.last_used_at).filter(AuthToken.user_id == o.admin.id).scalar()
        theirs = db.query(ScimToken.last_used_at).filter(ScimToken.org_id == o.org.id).scalar()
        return mine, theirs

    def use_both() -> None:
        assert client.get("/api/v1/me", headers=person).status_code == 200
        assert client.get("/scim/v2/ServiceProviderConfig", headers=provider).status_code == 200

    use_both()
    first = last_uses()
    assert None not in first
    clock.advance(timedelta(seconds=59))
    use_both()
    assert last_uses() == first  # within the minute: a read stays a read
    clock.advance(timedelta(seconds=2))
    use_both()
    later = last_uses()
    assert later[0] > first[0] and later[1] > first[1]  # type: ignore[operator]


def test_small_scim_reads_and_writes_skip_the_hand_over_on_sqlite(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import roster.scim.api as scim_api
    from roster.scim.tokens import create_scim_token

    handed_over: list[str] = []

    def counting(hand_over):  # type: ignore[no-untyped-def]
        async def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            handed_over.append(args[0].url.path.removeprefix("/scim/v2"))
            return await hand_over(fn, *args, **kwargs)

        return counted

    monkeypatch.setattr(scim_api, "run_sync", counting(scim_api.run_sync))
    monkeypatch.setattr(scim_api, "run_writing", counting(scim_api.run_writing))
    o = make_org(db, plan="enterprise")
    scim = {"Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"}
    body = {
        "userName": "ada@example.com",
        "emails": [{"value": "ada@example.com"}],
        "name": {"givenName": "Ada"},
    }

    on_sqlite = db.get_bind().dialect.name == "sqlite"
    created = client.post("/scim/v2/Users", json=body, headers=scim)
    # A write: done on the event loop on SQLite when no other writer is at work (writes_now).
    assert created.status_code == 201 and handed_over == ([] if on_sqlite else ["/Users"])
    person = created.json()["id"]
    group = client.post("/scim/v2/Groups", json={"displayName": "Ops"}, headers=scim)
    assert group.status_code == 201
    handed_over.clear()

    small = [
        client.get("/scim/v2/Users", params={"filter": 'userName eq "ADA@example.com"'}, headers=scim),
        # a page the one match fills: the total is counted
        client.get(
            "/scim/v2/Users", params={"filter": 'userName eq "ada@example.com"', "count": 1}, headers=scim
        ),
        client.get(f"/scim/v2/Users/{person}", headers=scim),
        client.get("/scim/v2/ServiceProviderConfig", headers=scim),
        client.get("/scim/v2/ResourceTypes/User", headers=scim),
    ]
    assert [a.status_code for a in small] == [200] * 5
    assert small[0].json()["Resources"][0]["id"] == person
    assert small[1].json()["totalResults"] == 1 and small[1].json()["Resources"][0]["id"] == person
    assert small[2].json()["id"] == person
    every = ["/Users", "/Users", f"/Users/{person}", "/ServiceProviderConfig", "/ResourceTypes/User"]
    assert handed_over == ([] if on_sqlite else every)
    handed_over.clear()

    # Reads of any size (a page, a group with its members) and unknown people: as before.
    assert client.get("/scim/v2/Users", params={"count": 5}, headers=scim).status_code == 200
    assert client.get(f"/scim/v2/Groups/{group.json()['id']}", headers=scim).status_code == 200
    assert handed_over == ["/Users", f"/Groups/{group.json()['id']}"]
    missing = client.get("/scim/v2/Users/00000000-0000-0000-0000-000000000000", headers=scim)
    assert missing.status_code == 404 and missing.json()["status"] == "404"
    assert (
        client.get("/scim/v2/ServiceProviderConfig", headers={"Authorization": "Bearer x"}).status_code == 401
    )


@pytest.mark.sqlite_only  # point reads exist on SQLite only
def test_a_point_read_connection_refuses_to_write_and_never_waits(databases: DatabaseFactory) -> None:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from roster.db.engine import point_reads

    url = databases.new_database()
    path = make_url(url).database
    assert path
    engine = make_engine(url)
    reads = point_reads(engine)
    assert reads is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with engine.begin() as setup:
            setup.execute(text("CREATE TABLE t (v INTEGER)"))
            setup.execute(text("INSERT INTO t VALUES (1)"))
        with reads.connection() as connection:
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 0  # fails, never waits
            with pytest.raises(OperationalError, match="readonly"):
                connection.execute(text("UPDATE t SET v = 2"))
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock: reads go on
        holder.execute("UPDATE t SET v = 3")
        with reads.connection() as connection:
            assert connection.execute(text("SELECT v FROM t")).scalar() == 1
            with pytest.raises(PoolTimeout), reads.connection():  # one connection, never waited for
                pass
        holder.execute("COMMIT")
        with reads.connection() as connection:  # each read sees what was committed before it
            assert connection.execute(text("SELECT v FROM t")).scalar() == 3
            kept = connection
        with reads.connection() as connection:  # the one connection stays checked out between reads
            assert connection is kept and not connection.in_transaction()
        reads.dispose()
        assert kept.closed
    finally:
        holder.close()
        reads.dispose()
        engine.dispose()


@pytest.mark.sqlite_only  # writes on the event loop exist on SQLite only
def test_a_write_on_the_event_loop_keeps_its_connection_and_opens_the_writer_gate_when_it_ends(
    databases: DatabaseFactory,
) -> None:
    import fcntl
    import os

    from sqlalchemy.exc import IntegrityError, PendingRollbackError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from roster.db.engine import WriterBusy, writer_gate_path, writes_now

    url = databases.new_database()
    path = make_url(url).database
    assert path
    engine = make_engine(url)
    now = writes_now(engine)
    assert now is not None

    def values() -> list[int]:
        with engine.connect() as other:
            return list(other.execute(text("SELECT v FROM t ORDER BY v")).scalars())

    try:
        with engine.begin() as setup:
            setup.execute(text("CREATE TABLE t (v INTEGER UNIQUE)"))
        with now.session() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            kept = session.connection()
            assert not _gate_is_open(path)  # a writing BEGIN took it
        assert values() == [1]  # committed
        assert _gate_is_open(path) and not kept.in_transaction() and not kept.closed
        with pytest.raises(IntegrityError), now.session() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        assert values() == [1]  # rolled back whole
        assert _gate_is_open(path) and not kept.in_transaction()
        with now.session() as session:
            assert session.connection() is kept  # the same connection, from write to write
            session.execute(text("INSERT INTO t VALUES (3)"))
            with pytest.raises(PoolTimeout), now.session() as inner:  # one connection, never waited for
                inner.execute(text("INSERT INTO t VALUES (4)"))
        assert values() == [1, 3] and _gate_is_open(path)

        gate = writer_gate_path(path)
        assert gate is not None
        holder = os.open(gate, os.O_RDWR)
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)  # another writer is at work
            with pytest.raises(WriterBusy), now.session() as session:
                session.execute(text("INSERT INTO t VALUES (5)"))
            assert not _gate_is_open(path)  # still the other writer's
        finally:
            os.close(holder)
        assert values() == [1, 3] and _gate_is_open(path)
        with pytest.raises(PendingRollbackError), now.session() as session:
            session.execute(text("INSERT INTO t VALUES (5)"))
            session.connection().invalidate()  # as when the driver reports the connection lost
        assert values() == [1, 3] and _gate_is_open(path)  # closed with its connection
        with now.session() as session:  # and the next write goes on, on a new connection
            session.execute(text("INSERT INTO t VALUES (6)"))
            replaced = session.connection()
        assert values() == [1, 3, 6] and _gate_is_open(path)
        assert replaced is not kept and kept.invalidated
        now.dispose()
        assert replaced.closed
    finally:
        now.dispose()
        engine.dispose()


@pytest.mark.postgres_only
def test_postgres_has_no_point_reads(db: Session) -> None:
    from roster.db.engine import point_reads

    assert point_reads(db.get_bind().engine) is None


@pytest.mark.postgres_only  # autocommit reads are PostgreSQL's
def test_signed_in_reads_on_postgres_run_without_a_transaction_and_writes_with_one(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """Autocomplete and /me send no BEGIN or COMMIT of their own on PostgreSQL; the credential's
    first use, their one write, is still recorded; the connection goes back to the pool in its
    usual mode, so the next writing request has its transaction."""
    from sqlalchemy import event, select

    from roster.accounts.models import AuthToken, User
    from roster.app import create_app
    from roster.db.engine import transaction
    from tests.conftest import make_settings
    from tests.factories import auth

    url = databases.new_database()
    engine = make_engine(url, pool_size=1, max_overflow=0)  # every request on one connection
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            org = make_org(session)
            headers = auth(session, org.admin)
        sent: list[tuple[str, bool]] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _record(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
            sent.append((statement.split(None, 1)[0].upper(), conn.connection.dbapi_connection.autocommit))  # type: ignore[union-attr]

        with TestClient(create_app(make_settings(tmp_path, database_url=url), bind=engine)) as client:
            sent.clear()  # the start's check of the schema is no request
            found = client.get("/api/v1/users/autocomplete", params={"q": "ad"}, headers=headers)
            assert found.status_code == 200
            assert [p["id"] for p in found.json()] == [str(org.admin.id)]
            assert client.get("/api/v1/me", headers=headers).json()["id"] == str(org.admin.id)
            reads = list(sent)
            sent.clear()
            changed = client.patch(
                f"/api/v1/users/{org.admin.id}", json={"position": "Founder"}, headers=headers
            )
            assert changed.status_code == 200, changed.text
            writes = list(sent)

        assert {kind for kind, _ in reads} == {"SELECT", "UPDATE"}  # the token's first use is an UPDATE
        assert all(autocommit for _, autocommit in reads), reads
        assert writes and not any(autocommit for _, autocommit in writes), writes
        with factory() as session:
            assert session.scalar(select(AuthToken.last_used_at).where(AuthToken.user_id == org.admin.id))
            assert session.scalar(select(User.position).where(User.id == org.admin.id)) == "Founder"
    finally:
        engine.dispose()


@pytest.mark.sqlite_only  # point reads exist on SQLite only
def test_point_reads_on_a_real_engine_answer_and_still_record_a_tokens_use(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """The test suite's sessions share one connection; here the server's own engines are used, so
    the point reads' connection really refuses writes and a lookup must still record its use."""
    from datetime import timedelta

    from roster import clock
    from roster.scim.models import ScimToken

    with _served_on_its_own_engines(databases, tmp_path) as served:
        client, scim = served.client, served.scim

        def last_used() -> object:
            with served.factory() as session:
                return session.query(ScimToken.last_used_at).scalar()

        body = {"userName": "ada@example.com", "emails": [{"value": "ada@example.com"}]}
        assert client.post("/scim/v2/Users", json=body, headers=scim).status_code == 201
        first = last_used()
        assert first is not None
        clock.advance(timedelta(minutes=2))
        lookup = {"filter": 'userName eq "ada@example.com"'}
        found = client.get("/scim/v2/Users", params=lookup, headers=scim)
        assert found.status_code == 200 and found.json()["totalResults"] == 1
        assert last_used() > first  # type: ignore[operator]  # due: recorded on a worker thread
        recorded = last_used()
        clock.advance(timedelta(seconds=30))
        with _write_lock_held(served.url):  # a writer holds the lock; the lookup does not wait
            again = client.get("/scim/v2/Users", params=lookup, headers=scim)
            assert again.status_code == 200 and again.json()["totalResults"] == 1
        assert last_used() == recorded


@pytest.mark.sqlite_only  # point reads exist on SQLite only
def test_a_writing_requests_token_is_read_before_its_transaction_takes_the_write_lock(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """Every other writer waits while a transaction holds SQLite's write lock, so a SCIM write reads
    its token on the point-read connection first. Its use is still recorded in the transaction,
    and a revoked token is still refused before anything is written."""
    from sqlalchemy import event, func, select

    from roster.accounts.models import User
    from roster.db.engine import transaction
    from roster.scim.models import ScimToken
    from roster.scim.tokens import revoke_scim_token

    with _served_on_its_own_engines(databases, tmp_path) as served:
        client, scim, factory, o, issued = (
            served.client,
            served.scim,
            served.factory,
            served.org,
            served.issued,
        )
        sent: list[str] = []
        point_reads = client.app.state.point_reads._bind  # type: ignore[attr-defined]

        def record(connection: Connection, _cur: object, statement: str, *_: object) -> None:
            if connection.engine is not point_reads:  # the writing transactions' own, wherever done
                sent.append(statement)

        event.listen(Engine, "before_cursor_execute", record)
        body = {"userName": "ada@example.com", "emails": [{"value": "ada@example.com"}]}
        try:
            assert client.post("/scim/v2/Users", json=body, headers=scim).status_code == 201
        finally:
            event.remove(Engine, "before_cursor_execute", record)
        on_the_writer = [s for s in sent if "scim_tokens" in s]
        assert on_the_writer and all(s.lstrip().startswith("UPDATE") for s in on_the_writer)
        with factory() as session:
            assert session.scalar(select(ScimToken.last_used_at)) is not None
        with transaction(factory) as session:
            token, admin = (
                session.get(ScimToken, (o.org.id, issued.token.id)),
                session.get(User, (o.org.id, o.admin.id)),
            )
            assert token is not None and admin is not None
            revoke_scim_token(session, token, actor=admin)
        other = {"userName": "bob@example.com", "emails": [{"value": "bob@example.com"}]}
        assert client.post("/scim/v2/Users", json=other, headers=scim).status_code == 401
        with factory() as session:
            assert (
                session.scalar(select(func.count()).select_from(User).where(User.email == "bob@example.com"))
                == 0
            )


def _gate_is_open(database: str) -> bool:
    """Whether no connection holds the database's writer gate (probed without waiting)."""
    import fcntl
    import os

    from roster.db.engine import writer_gate_path

    path = writer_gate_path(database)
    assert path is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the probe's own lock, if it took it
    return True


@pytest.mark.sqlite_only  # the writer gate is SQLite's
def test_writers_queue_at_the_writer_gate_not_in_sqlites_busy_handler(databases: DatabaseFactory) -> None:
    """Two engines on one file, as two worker processes have. The second one's connections have
    no busy timeout at all, so if it met SQLite's write lock it would fail at once: it succeeds
    because it waited at the gate, and went on the moment the first writer was done."""
    from sqlalchemy import event

    url = databases.new_database()
    path = make_url(url).database
    assert path
    one, two = make_engine(url), make_engine(url)
    event.listen(two, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=0"))
    try:
        with one.begin() as setup:
            setup.execute(text("CREATE TABLE t (v INTEGER)"))
        assert _gate_is_open(path)
        finished: list[str] = []
        failed: list[BaseException] = []

        def second_writer() -> None:
            try:
                with make_sessionmaker(writer(two))() as session:
                    session.execute(text("INSERT INTO t VALUES (2)"))
                    session.commit()
                    finished.append("second")
            except BaseException as exc:  # reported below, in the test's thread
                failed.append(exc)

        with make_sessionmaker(writer(one))() as first:
            first.execute(text("INSERT INTO t VALUES (1)"))  # BEGIN IMMEDIATE: gate, then lock
            assert not _gate_is_open(path)
            with make_sessionmaker(two)() as reading:  # readers do not pass the gate
                assert reading.execute(text("SELECT count(*) FROM t")).scalar() == 0
            waiting = threading.Thread(target=second_writer)
            waiting.start()
            waiting.join(timeout=0.5)
            assert waiting.is_alive() and not finished and not failed  # queued at the gate
            # Marked before the commit: the second writer can only finish once the commit has
            # opened the gate, so the order holds however the two threads are scheduled.
            finished.append("first")
            first.commit()
        waiting.join(timeout=30)
        assert not failed, failed
        assert finished == ["first", "second"]
        assert _gate_is_open(path)
        with one.connect() as connection:
            assert connection.execute(text("SELECT v FROM t ORDER BY v")).scalars().all() == [1, 2]
    finally:
        one.dispose()
        two.dispose()


@pytest.mark.sqlite_only  # the writer gate is SQLite's
def test_the_writer_gate_opens_however_a_writing_transaction_ends(databases: DatabaseFactory) -> None:
    from roster.db.engine import point_reads, transaction, writer_gate_path

    url = databases.new_database()
    path = make_url(url).database
    assert path
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    try:
        with transaction(factory) as session:
            session.execute(text("CREATE TABLE t (v INTEGER UNIQUE)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        assert _gate_is_open(path)  # committed
        with pytest.raises(Exception, match="UNIQUE"), transaction(factory) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
        assert _gate_is_open(path)  # rolled back on an error
        with factory() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            assert not _gate_is_open(path)
        assert _gate_is_open(path)  # closed without a commit
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))  # a reading transaction never takes it
            assert _gate_is_open(path)
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1
        reads = point_reads(engine)
        assert reads is not None
        with reads.connection() as connection:
            assert connection.connection.info.get("roster_writer_gate") is None
        reads.dispose()
        assert writer_gate_path(":memory:") is None and writer_gate_path(None) is None
    finally:
        engine.dispose()


@pytest.mark.sqlite_only  # SQLite's write lock
def test_a_scim_search_sent_as_post_is_a_read_and_does_not_wait_for_the_write_lock(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    with _served_on_its_own_engines(databases, tmp_path) as served:
        client, scim = served.client, served.scim
        body = {"userName": "ada@example.com", "emails": [{"value": "ada@example.com"}]}
        assert client.post("/scim/v2/Users", json=body, headers=scim).status_code == 201
        with _write_lock_held(served.url):  # a long write holds the lock
            query = {"filter": 'userName sw "ada"'}
            for path in ("/scim/v2/Users/.search", "/scim/v2/.search"):
                found = client.post(path, json=query, headers=scim)
                assert found.status_code == 200, found.text
                assert [r["userName"] for r in found.json()["Resources"]] == ["ada@example.com"]


@pytest.mark.sqlite_only  # the writer gate is SQLite's
def test_where_the_file_system_cannot_lock_writers_go_on_without_the_gate(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    import roster.db.engine as engine_module
    from roster.db.engine import transaction

    def cannot_lock(_fd: int, _operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(engine_module.fcntl, "flock", cannot_lock)
    engine = make_engine(databases.new_database())
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            session.execute(text("CREATE TABLE t (v INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
            assert "roster_writer_gate" not in session.connection().connection.info
        with engine.connect() as connection:
            assert connection.execute(text("SELECT v FROM t")).scalar() == 1
        assert "no writer gate" in caplog.text
    finally:
        engine.dispose()


def test_a_server_process_importing_the_asgi_entry_point_logs_its_requests(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """What each worker process of ``roster serve --workers N`` does: import ``roster.asgi`` in a
    process where nothing set logging up. Its request lines must still be written."""
    script = (
        "from fastapi.testclient import TestClient\n"
        "import roster.asgi\n"
        "with TestClient(roster.asgi.app) as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
    )
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": databases.new_database(),
        "ROSTER_DATA_DIR": str(tmp_path / "var"),
        "ROSTER_BACKGROUND_WORKERS": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "INFO roster.requests" in done.stderr and '"path": "/healthz"' in done.stderr, done.stderr
    assert "INFO roster Roster" in done.stderr and "started (database:" in done.stderr


def test_a_server_importing_the_asgi_entry_point_with_a_bad_setting_says_so_in_one_line(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """``uvicorn roster.asgi:app`` (or a worker process) with a short key: the one line every command
    says, not pydantic's report, which would print the key into the server's log."""
    key = "short-" + secrets.token_hex(4)
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": databases.new_database(),
        "ROSTER_DATA_DIR": str(tmp_path / "var"),
        "ROSTER_SECRET_KEY": key,
        "ROSTER_SMTP_PORT": "not-a-port",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import roster.asgi"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("Roster cannot start: ROSTER_SECRET_KEY: must be at least 32 characters"), line
    assert "ROSTER_SMTP_PORT:" in line and "'not-a-port'" in line
    assert key not in done.stderr


def test_the_access_log_leaves_out_the_secrets_of_links(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever reads the log must not be able to accept an invitation or reset a password."""
    secret = "rst_0123456789abcdef_s3cr3t-part-of-the-link"
    with caplog.at_level(logging.INFO, logger="roster.requests"):
        for path in (f"/invite/{secret}", f"/reset-password/{secret}"):
            client.get(path, headers={"Accept": "text/html"})
            client.post(path, data={"password": "x"}, headers={"Accept": "text/html"})
        client.get("/login", headers={"Accept": "text/html"})
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "roster.requests"]
    assert [line["path"] for line in logged] == [
        "/invite/[FILTERED]",
        "/invite/[FILTERED]",
        "/reset-password/[FILTERED]",
        "/reset-password/[FILTERED]",
        "/login",
    ]
    assert not [r for r in caplog.records if "s3cr3t" in r.getMessage()]
