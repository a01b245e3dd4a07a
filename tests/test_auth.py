"""Sign-in, sessions, tokens and password reset through the API."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.deps import SESSION_COOKIE, Principal, SignedIn
from roster.accounts.models import User
from roster.app import create_app
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.db.migrate import downgrade
from roster.domain import errors
from roster.mail.models import OutboxMessage
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import PASSWORD, auth, make_org, make_user


def login(client: TestClient, slug: str, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/login", json={"organization": slug, "email": email, "password": password}
    )


def test_an_admin_signs_in_and_reads_their_account(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    response = login(client, "acme", "ADMIN@acme.test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "admin@acme.test"
    assert body["user"]["role"] == "admin"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == str(o.admin.id)


def test_every_failed_sign_in_gives_the_same_answer(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    dismissed = make_user(db, o.org, dismissed=True)
    answers = [
        login(client, "acme", "admin@acme.test", "wrong-password-1"),
        login(client, "acme", "nobody@acme.test"),
        login(client, "nope", "admin@acme.test"),
        login(client, "acme", dismissed.email or ""),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["code"] == "invalid_credentials"
    assert len({a.json()["detail"] for a in answers}) == 1


def test_a_nul_character_in_the_organization_or_email_gets_the_usual_answers(
    client: TestClient, db: Session
) -> None:
    make_org(db, slug="acme")
    for organization, email in [("ac\x00me", "admin@acme.test"), ("acme", "admin\x00@acme.test")]:
        answer = login(client, organization, email, PASSWORD)
        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_credentials"
        reset = client.post(
            "/api/v1/auth/password-reset", json={"organization": organization, "email": email}
        )
        assert reset.status_code == 202


def test_the_system_user_cannot_sign_in(client: TestClient, db: Session) -> None:
    make_org(db, slug="acme")
    assert login(client, "acme", "").status_code in (401, 422)


def test_logout_ends_the_token_at_once(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    headers = auth(db, o.admin)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


def test_an_expired_token_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    token = login(client, "acme", "admin@acme.test").json()["access_token"]
    clock.advance(timedelta(days=15))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert o.admin.id


def test_garbage_tokens_are_refused_without_error(client: TestClient) -> None:
    for value in ["x", "rst_zz_" + "a" * 40, "rst_" + "0" * 32 + "_short", "Bearer", "rst__"]:
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
        assert answer.status_code == 401, value


def test_token_lists_page_like_every_other_list(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    headers = auth(db, o.admin)
    for name in ("one", "two", "three"):
        assert client.post("/api/v1/me/tokens", json={"name": name}, headers=headers).status_code == 201
        assert client.post("/api/v1/scim/tokens", json={"name": name}, headers=headers).status_code == 201
    for url in ("/api/v1/me/tokens", "/api/v1/scim/tokens"):
        pages = [
            client.get(url, params={"page": n, "per_page": 2}, headers=headers).json() for n in (1, 2, 3)
        ]
        assert [[t["name"] for t in p["items"]] for p in pages] == [["one", "two"], ["three"], []]
        assert {p["total"] for p in pages} == {3}
        assert client.get(url, params={"per_page": 201}, headers=headers).status_code == 422


def test_personal_access_tokens_work_and_can_be_revoked(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    headers = auth(db, o.admin)
    created = client.post("/api/v1/me/tokens", json={"name": "script"}, headers=headers)
    assert created.status_code == 201
    pat = created.json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {pat}"}).status_code == 200
    listed = client.get("/api/v1/me/tokens", headers=headers).json()
    assert [t["name"] for t in listed["items"]] == ["script"] and listed["total"] == 1
    assert all(t["token"] is None for t in listed["items"])
    assert client.delete(f"/api/v1/me/tokens/{created.json()['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {pat}"}).status_code == 401


def _token_events(db: Session, org_id: object) -> list[tuple[str, object, object, dict[str, object]]]:
    from roster.lifecycle.models import AuditEvent

    rows = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.org_id == org_id, AuditEvent.action == "personal_token.revoked")
        .order_by(AuditEvent.seq)
    )
    return [(e.action, e.actor_id, e.subject_id, e.details) for e in rows]


def test_revoking_a_personal_token_is_audited_without_its_secret_and_twice_is_a_404(
    client: TestClient, db: Session
) -> None:
    """A department deleted twice answers 404 on the API, and so does a token revoked twice: its
    row is gone, so the answer is the one for an id that was never the caller's."""
    o = make_org(db, slug="acme")
    headers = auth(db, o.admin)
    created = client.post("/api/v1/me/tokens", json={"name": "script"}, headers=headers).json()
    assert client.delete(f"/api/v1/me/tokens/{created['id']}", headers=headers).status_code == 204
    events = _token_events(db, o.org.id)
    assert events == [
        ("personal_token.revoked", o.admin.id, o.admin.id, {"token_id": created["id"], "name": "script"})
    ]
    assert created["token"] not in str(events)
    again = client.delete(f"/api/v1/me/tokens/{created['id']}", headers=headers)
    assert (again.status_code, again.json()["code"]) == (404, "not_found")
    assert len(_token_events(db, o.org.id)) == 1


def test_signing_out_with_a_personal_token_revokes_it_on_the_record(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    issued = accounts.issue_token(db, o.admin, kind="pat", name="cron job")
    pat = {"Authorization": f"Bearer {issued.secret}"}
    assert client.post("/api/v1/auth/logout", headers=pat).status_code == 204
    assert client.get("/api/v1/me", headers=pat).status_code == 401
    details = {"token_id": str(issued.token.id), "name": "cron job"}
    assert _token_events(db, o.org.id) == [("personal_token.revoked", o.admin.id, o.admin.id, details)]
    # A browser session or a login token ends without an entry: only personal tokens are recorded.
    assert client.post("/api/v1/auth/logout", headers=auth(db, o.admin)).status_code == 204
    assert len(_token_events(db, o.org.id)) == 1


def test_too_many_sign_in_attempts_answer_429_with_retry_after(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, login_limit_per_account="3/minute"), bind=connection)
    make_org(db, slug="acme")
    with TestClient(app) as client:
        for _ in range(3):
            assert login(client, "acme", "admin@acme.test", "wrong-password-1").status_code == 401
        refused = login(client, "acme", "admin@acme.test")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["code"] == "too_many_requests"


def test_password_reset_by_mailed_link(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    old_headers = auth(db, o.admin)
    answer = client.post(
        "/api/v1/auth/password-reset", json={"organization": "acme", "email": "admin@acme.test"}
    )
    assert answer.status_code == 202
    unknown = client.post(
        "/api/v1/auth/password-reset", json={"organization": "acme", "email": "x@acme.test"}
    )
    assert unknown.status_code == 202 and unknown.json() == answer.json()
    mails = db.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "password_reset")).all()
    assert [m.to_address for m in mails] == ["admin@acme.test"]
    link = next(line for line in mails[0].body_text.splitlines() if "/reset-password/" in line)
    token = link.rsplit("/", 1)[1]
    for password in ("short", "qwertyuiop"):
        weak = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})
        assert weak.status_code == 422 and weak.json()["code"] == "weak_password", password
    done = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "a-new-long-password"}
    )
    assert done.status_code == 204
    assert client.get("/api/v1/me", headers=old_headers).status_code == 401  # every session ended
    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "another-password-2"}
    )
    assert again.status_code == 404 and again.json()["code"] == "invalid_token"
    assert login(client, "acme", "admin@acme.test", "a-new-long-password").status_code == 200


def test_validation_errors_name_the_field(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/login", json={"organization": "acme"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "validation_failed"
    assert body["field"] in ("email", "password")


def test_a_weak_password_is_refused_naming_the_field_it_was_sent_in(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    before = o.admin.password_hash
    # Too short; then long and varied, but the person's own address.
    for password in ("short", str(o.admin.email).upper()):
        change = {"current_password": PASSWORD, "new_password": password}
        weak = client.post("/api/v1/me/password", json=change, headers=headers)
        assert (weak.status_code, weak.json()["code"], weak.json()["field"]) == (
            422,
            "weak_password",
            "new_password",
        ), password
    db.refresh(o.admin)
    assert o.admin.password_hash == before


def test_malformed_json_is_a_clear_422(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/login", content=b"{nope", headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"


def test_unknown_routes_answer_problem_json(client: TestClient) -> None:
    answer = client.get("/api/v1/does-not-exist")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.headers["x-request-id"]


def test_readiness_needs_the_schema_of_this_roster(
    databases: DatabaseFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server pointed at a database nobody migrated (or one a newer Roster migrated) is up but
    not ready, and says why at start."""
    url = databases.new_database()
    engine = make_engine(url)
    app = create_app(make_settings(tmp_path, database_url=url), bind=engine)
    try:
        with caplog.at_level(logging.INFO), TestClient(app) as client:
            assert client.get("/readyz").json() == {"status": "ok"}
        assert not [r for r in caplog.records if r.name.startswith("alembic")]  # probes stay quiet
        cases = [
            ("UPDATE alembic_version SET version_num = 'ffffffffffff'", "is newer than this Roster knows"),
            ("UPDATE alembic_version SET version_num = '0001'", "older than this Roster's"),
            ("DROP TABLE alembic_version", "has no Roster tables: run `roster db upgrade`"),
        ]
        for statement, reason in cases:
            with engine.begin() as connection:
                connection.execute(text(statement))
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="roster"), TestClient(app) as client:
                answer = client.get("/readyz")
            assert answer.status_code == 503, statement
            assert answer.json()["code"] == "database_not_migrated" and reason in answer.json()["detail"]
            assert any(reason in r.getMessage() for r in caplog.records), statement
            assert client.get("/healthz").status_code == 200  # up, though not ready
    finally:
        engine.dispose()


def test_a_server_started_before_the_migrations_says_so_on_every_request_it_cannot_answer(
    databases: DatabaseFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """New code deployed, `roster db upgrade` not run yet: a request that needs the new schema is
    answered 503 `database_not_migrated` with /readyz's reason, not 500 (PostgreSQL) or "the
    database is not answering" (SQLite)."""
    url = databases.new_database()
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            made = make_org(session)
            slug, email = made.org.slug, made.admin.email
        downgrade(url, "0013")  # the release before time zones: no timezone columns
        app = create_app(make_settings(tmp_path, database_url=url), bind=engine)
        with caplog.at_level(logging.ERROR), TestClient(app) as client:
            answer = client.post(
                "/api/v1/auth/login", json={"organization": slug, "email": email, "password": PASSWORD}
            )
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "database_not_migrated"
        assert "older than this Roster's" in answer.json()["detail"]
        assert "run `roster db upgrade`" in answer.json()["detail"]
        assert not [r for r in caplog.records if r.exc_info], "no traceback for a known cause"
    finally:
        engine.dispose()


def test_every_answer_carries_a_request_id_and_the_common_security_headers(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-" + "x" * 100})
    assert given.headers["x-request-id"] == ("trace-" + "x" * 100)[:64]
    made = [client.get("/api/v1/me").headers["x-request-id"] for _ in range(2)]
    assert len(set(made)) == 2 and all(len(m) == 32 for m in made)
    for answer in (given, client.get("/api/v1/me"), client.get("/scim/v2/Users")):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "content-security-policy" not in answer.headers  # pages only
    page = client.get("/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"].startswith("default-src")
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.sqlite_only
def test_recording_a_tokens_use_never_fails_a_read_that_cannot_become_a_write(
    databases: DatabaseFactory,
) -> None:
    engine = make_engine(databases.new_database())
    factory = make_sessionmaker(engine)
    with transaction(make_sessionmaker(writer(engine))) as session:
        o = make_org(session)
        secret = accounts.issue_token(session, o.admin, kind="bearer").secret
    reader = factory()
    try:
        token, _user = accounts.resolve_token(reader, secret) or (None, None)  # the read begins
        assert token is not None
        with transaction(make_sessionmaker(writer(engine))) as other:  # someone else writes meanwhile
            make_user(other, o.org)
        accounts.touch_token(reader, token)  # SQLite cannot upgrade this reader: skipped, not an error
        reader.commit()
    finally:
        reader.close()
        engine.dispose()


def test_a_one_hand_over_route_checks_the_caller_and_commits_or_rolls_back_like_the_others(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db, slug="acme")
    employee = make_user(db, o.org, email="ann@acme.test")

    @app.post("/api/v1/probe/{outcome}")
    async def probe(caller: SignedIn, outcome: str) -> dict[str, str]:
        def work(session: Session, principal: Principal) -> dict[str, str]:
            session.execute(
                update(User)
                .where(User.org_id == principal.org_id, User.id == principal.user.id)
                .values(position=outcome)
            )
            if outcome == "refused":
                raise errors.Conflict("Refused after writing.")
            return {"who": principal.user.email or ""}

        return await caller.run(work)

    assert client.post("/api/v1/probe/kept").status_code == 401
    headers = auth(db, employee)
    answer = client.post("/api/v1/probe/kept", headers=headers)
    assert answer.status_code == 200 and answer.json() == {"who": "ann@acme.test"}
    refused = client.post("/api/v1/probe/refused", headers=headers)
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    db.expire_all()
    assert db.scalars(select(User.position).where(User.id == employee.id)).one() == "kept"
    # A cookie-authenticated write must carry the CSRF token here too.
    cookie_secret = accounts.issue_token(db, employee, kind="session").secret
    db.commit()
    client.cookies.set(SESSION_COOKIE, cookie_secret)
    try:
        assert client.post("/api/v1/probe/kept").status_code == 403
    finally:
        client.cookies.clear()
