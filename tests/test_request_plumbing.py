"""The plumbing under every request: how transactions begin on SQLite, how work is handed to a
worker thread, and how /scim/v2 is routed ahead of the API."""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from roster.concurrency import run_sync
from roster.db.engine import make_engine, make_sessionmaker, writer
from tests.dbutil import DatabaseFactory
from tests.factories import make_org

_WHO = contextvars.ContextVar("who", default="nobody")


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
