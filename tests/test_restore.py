"""Restoring a deleted user within the window, and the purge that ends the window."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.app import create_app
from roster.crm.models import Lead
from roster.crm.service import create_lead, delete_lead
from roster.db.base import Base
from roster.db.engine import make_engine, make_sessionmaker, transaction
from roster.domain import errors
from roster.domain.users import Role
from roster.lifecycle import deletion
from roster.lifecycle.deletion import DispositionPlan
from roster.lifecycle.deletion_jobs import run_purge
from roster.lifecycle.deletion_models import Authorship, LifecycleOperation
from roster.references import Disposition, content_references, get_reference
from roster.settings import get_settings
from roster.tasks.service import create_task as make_task
from roster.workers import periodic_jobs
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.deletion_support import audit_actions, make_busy, references_to, row_counts, rows_hidden, snapshot
from tests.factories import auth, make_org, make_user


def _busy_org(client: TestClient, db: Session):  # type: ignore[no-untyped-def]
    o = make_org(db, plan="enterprise")
    busy = make_user(db, o.org, first_name="Rita", last_name="Restore", role=Role.ADMIN)
    colleague = make_user(db, o.org, first_name="Sam", last_name="Successor")
    other = make_user(db, o.org)
    make_busy(client, db, busy, [colleague, other])
    return o, busy, colleague, other


def test_restore_returns_the_account_as_dismissed_with_its_email(client: TestClient, db: Session) -> None:
    o, busy, _colleague, _other = _busy_org(client, db)
    email = busy.email
    deletion.delete_user(db, busy, actor=o.admin, confirm=email)
    result = deletion.restore_user(db, busy, actor=o.admin)
    assert result.user.status == "dismissed"
    assert result.user.email == email
    assert result.user.email_key == accounts.email_key(email)  # type: ignore[arg-type]
    assert result.user.deleted_at is None and result.user.restorable_until is None
    assert audit_actions(db, o.org.id)[-1] == "user.restored"
    # Map rows of a restored deletion are history: the default listing leaves them out.
    assert deletion.list_authorship(db, o.org.id, user_id=busy.id)[1] == 0
    assert deletion.list_authorship(db, o.org.id, user_id=busy.id, include_restored=True)[1] > 0


def test_a_reference_changed_after_the_deletion_stays_as_it_is_now(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _busy_org(client, db)
    plan = DispositionPlan(default=Disposition.SUCCESSOR, successor_id=colleague.id)
    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=plan)
    # The successor hands one kind on to someone else (e.g. the tasks they were given).
    kind = next(k for k in result.moved if "SUCCESSOR" in {d.name for d in _dispositions(k)})
    handed = deletion.transfer_references(db, colleague, to=other, actor=o.admin, kinds=[kind]).moved
    assert handed[kind] >= result.moved[kind]

    restored = deletion.restore_user(db, busy, actor=o.admin)

    assert restored.left == {kind: result.moved[kind]}
    assert restored.restored == {k: n for k, n in result.moved.items() if k != kind}
    assert references_to(db, busy).get(kind, 0) == 0


def test_the_map_marks_exactly_the_rows_that_came_back(client: TestClient, db: Session) -> None:
    o, busy, _colleague, other = _busy_org(client, db)
    for n in range(2):  # two tasks of one kind, so that one can come back and one not
        make_task(db, actor=busy, title=f"Quarterly report {n}", responsible_id=busy.id)
    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)
    kind = "tasks.task.responsible"
    assert result.moved[kind] >= 2
    # One of them changes hands after the deletion: it stays where it is now.
    ref = get_reference(kind)
    assert ref is not None
    table = Base.metadata.tables[ref.table]
    system = accounts.get_system_user(db, o.org.id)
    changed = db.scalar(
        select(table.c.id).where(table.c.org_id == o.org.id, table.c[ref.column] == system.id).limit(1)
    )
    db.execute(
        update(table).where(table.c.org_id == o.org.id, table.c.id == changed).values({ref.column: other.id})
    )

    restored = deletion.restore_user(db, busy, actor=o.admin)

    assert restored.left == {kind: 1} and restored.restored[kind] == result.moved[kind] - 1
    unrestored = db.scalars(
        select(Authorship.object_id).where(
            Authorship.org_id == o.org.id,
            Authorship.operation_id == restored.operation_id,
            Authorship.restored_at.is_(None),
        )
    ).all()
    assert unrestored == [changed]  # every other kind came back whole, and is marked


@pytest.mark.postgres_only
def test_a_large_restore_on_postgresql_first_refreshes_the_maps_statistics(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    o, busy, _colleague, _other = _busy_org(client, db)
    deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)
    monkeypatch.setattr(deletion, "_ANALYZE_MAP_FROM_ROWS", 1)  # this one counts as large
    analyzed = text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'authorship'")
    before = db.scalar(analyzed)

    restored = deletion.restore_user(db, busy, actor=o.admin)

    assert restored.restored and not restored.left
    # ANALYZE ran on its own connection (its lock is not held through the restore).
    for _ in range(50):  # the statistics collector reports with a short delay
        if db.scalar(analyzed) != before:
            break
        db.execute(text("SELECT pg_stat_clear_snapshot()"))
        time.sleep(0.05)
    assert db.scalar(analyzed) == before + 1


@pytest.mark.postgres_only
def test_on_postgresql_a_small_restore_plans_each_statement_for_its_own_values(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg prepares a statement that has run five times, and PostgreSQL may then keep one
    generic plan for every value, made from the map's statistics of a large restore
    (``deletion._plan_for_these_values``). A small restore asks for plans made for its own values,
    for its transaction only; a deletion and a large restore keep the generic plans."""
    engine = make_engine(databases.new_database())
    show = text("SHOW plan_cache_mode")
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            o = make_org(session)
            small, large = make_user(session, o.org), make_user(session, o.org)
            for person in (small, large):
                make_task(session, actor=o.admin, title="Hand over", responsible_id=person.id)
            keys = [(person.org_id, person.id) for person in (small, large)]
            for person in (small, large):
                deletion.delete_user(session, person, actor=o.admin, confirm=person.email)
            assert session.scalar(show) == "auto"

        def restore(key: tuple[object, object]) -> None:
            with transaction(factory) as session:
                person = session.get(User, key)
                assert person is not None and session.scalar(show) == "auto"
                assert deletion.restore_user(session, person, actor=None).restored
                seen.append(session.scalar(show))

        seen: list[str | None] = []
        restore(keys[0])
        monkeypatch.setattr(deletion, "_ANALYZE_MAP_FROM_ROWS", 1)  # the next counts as large
        restore(keys[1])
        assert seen == ["force_custom_plan", "auto"]
        with transaction(factory) as session:
            assert session.scalar(show) == "auto"  # it ended with the small restore's transaction
    finally:
        engine.dispose()


def _dispositions(kind: str) -> tuple[Disposition, ...]:
    return next(r.dispositions for r in content_references() if r.kind == kind)


def test_restore_is_refused_after_the_window(client: TestClient, db: Session) -> None:
    o, busy, _colleague, _other = _busy_org(client, db)
    deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)
    clock.advance(timedelta(days=o.org.restore_window_days, seconds=1))
    before = snapshot(db)
    with pytest.raises(errors.RestoreWindowPassed):
        deletion.restore_user(db, busy, actor=o.admin)
    assert snapshot(db) == before
    answer = client.post(f"/api/v1/users/{busy.id}/restore", headers=auth(db, o.admin))
    assert answer.status_code == 410
    assert answer.json()["code"] == "restore_window_passed"
    # Nothing was purged yet: the answer does not say it was.
    assert "was purged" not in answer.json()["detail"]
    assert "next purge" in answer.json()["detail"]


def test_the_window_is_the_organizations_setting(db: Session) -> None:
    o = make_org(db)
    o.org.restore_window_days = 2
    user = make_user(db, o.org)
    result = deletion.delete_user(db, user, actor=o.admin, confirm=user.email)
    assert result.user.restorable_until is not None
    assert result.user.restorable_until - clock.now() <= timedelta(days=2)
    clock.advance(timedelta(days=2, minutes=1))
    with pytest.raises(errors.RestoreWindowPassed):
        deletion.restore_user(db, user, actor=o.admin)


def test_restore_is_refused_when_someone_else_now_has_the_email(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    user = make_user(db, o.org, email="taken@example.test")
    deletion.delete_user(db, user, actor=o.admin, confirm=user.email)
    newcomer = make_user(db, o.org, email="Taken@example.test")
    with pytest.raises(errors.EmailInUse):
        deletion.restore_user(db, user, actor=o.admin)
    db.refresh(user)
    assert user.status == "deleted"
    answer = client.post(f"/api/v1/users/{user.id}/restore", headers=auth(db, o.admin))
    assert answer.status_code == 409
    assert answer.json()["code"] == "email_in_use"
    assert answer.json()["user_id"] == str(newcomer.id)  # who holds it: the way out
    # Once the newcomer is deleted in turn, the address is free again.
    deletion.delete_user(db, newcomer, actor=o.admin, confirm=newcomer.email)
    assert deletion.restore_user(db, user, actor=o.admin).user.status == "dismissed"


def test_restore_is_refused_when_a_pending_invitation_has_the_email(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    user = make_user(db, o.org, email="invited@example.test")
    deletion.delete_user(db, user, actor=o.admin, confirm=user.email)
    invited = client.post(
        "/api/v1/invitations", json={"email": "invited@example.test"}, headers=auth(db, o.admin)
    )
    assert invited.status_code == 201, invited.text
    with pytest.raises(errors.EmailInUse) as refused:
        deletion.restore_user(db, user, actor=o.admin)
    assert refused.value.extra["invitation_id"] == invited.json()["id"]
    assert "a pending invitation" in refused.value.detail


def test_restore_is_refused_for_a_user_who_is_not_deleted(db: Session) -> None:
    o = make_org(db)
    user = make_user(db, o.org)
    with pytest.raises(errors.InvalidTransition):
        deletion.restore_user(db, user, actor=o.admin)


def test_the_api_restores_and_reports_what_came_back(client: TestClient, db: Session) -> None:
    o, busy, _colleague, _other = _busy_org(client, db)
    headers = auth(db, o.admin)
    deleted = client.post(
        f"/api/v1/users/{busy.id}/delete",
        json={"confirm": busy.email, "disposition": {"default": "delete"}},
        headers=headers,
    )
    assert deleted.status_code == 200, deleted.text
    answer = client.post(f"/api/v1/users/{busy.id}/restore", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "dismissed"
    assert body["id"] == str(busy.id)
    assert body["restored"] == deleted.json()["moved"]
    assert body["unhidden"] >= rows_hidden(deleted.json()["deleted"])
    assert body["left"] == {}


def test_purge_destroys_hidden_content_and_personal_data_but_the_map_keeps_the_name(
    client: TestClient, db: Session
) -> None:
    o, busy, _colleague, _other = _busy_org(client, db)
    name, email = busy.display_name, busy.email
    counts = row_counts(db)
    result = deletion.delete_user(
        db, busy, actor=o.admin, confirm=email, disposition=DispositionPlan(default=Disposition.DELETE)
    )
    assert result.deleted
    assert deletion.purge_expired(db) == 0  # the window is still open
    clock.advance(timedelta(days=31))

    assert deletion.purge_expired(db) == 1

    after = row_counts(db)
    assert sum(after.values()) < sum(counts.values())
    assert references_to(db, busy) == {}  # nothing hidden is left behind
    db.refresh(busy)
    assert busy.status == "deleted"
    assert busy.email is None and busy.email_key is None and busy.password_hash is None
    assert busy.first_name == busy.last_name == busy.position == ""
    assert name not in busy.display_name
    entries, total = deletion.list_authorship(db, o.org.id, user_id=busy.id)
    assert total == sum(result.moved.values()) > 0
    assert {e.original_display_name for e in entries} == {name}
    op = db.scalars(select(LifecycleOperation).where(LifecycleOperation.user_id == busy.id)).one()
    assert op.purged_at is not None
    assert audit_actions(db, o.org.id)[-1] == "user.purged"
    assert deletion.purge_expired(db) == 0  # once only
    with pytest.raises(errors.RestoreWindowPassed):
        deletion.restore_user(db, busy, actor=o.admin)


def test_purge_leaves_restored_and_unexpired_deletions_alone(db: Session) -> None:
    o = make_org(db)
    restored = make_user(db, o.org)
    recent = make_user(db, o.org)
    deletion.delete_user(db, restored, actor=o.admin, confirm=restored.email)
    deletion.restore_user(db, restored, actor=o.admin)
    clock.advance(timedelta(days=29))
    deletion.delete_user(db, recent, actor=o.admin, confirm=recent.email)
    clock.advance(timedelta(days=2))
    assert deletion.purge_expired(db) == 0
    db.refresh(restored)
    db.refresh(recent)
    assert restored.email is not None and recent.email is not None


def test_the_server_runs_the_purge_periodically(tmp_path: Path, databases: DatabaseFactory) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            o = make_org(session)
            user = make_user(session, o.org)
            deletion.delete_user(session, user, actor=o.admin, confirm=user.email)
            key = (o.org.id, user.id)
            lead = create_lead(session, actor=o.admin, title="Gone", responsible_id=o.admin.id)
            lead_key = (o.org.id, lead.id)
            delete_lead(session, lead, actor=o.admin)
        app = create_app(make_settings(tmp_path, database_url=url), bind=engine)
        jobs = {name: job for name, _, job in periodic_jobs(app)}
        assert "purge" in jobs
        jobs["purge"]()
        with transaction(factory) as session:
            assert session.get(User, key).email is not None  # type: ignore[union-attr]
        clock.advance(timedelta(days=31))
        assert run_purge(app) == 2  # the deleted person, then the lead in the trash
        with transaction(factory) as session:
            assert session.get(User, key).email is None  # type: ignore[union-attr]
            assert session.get(Lead, lead_key) is None
    finally:
        engine.dispose()


def test_roster_purge_on_the_command_line(
    tmp_path: Path, databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roster.cli import app as cli

    url = databases.new_database()
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            o = make_org(session)
            users = [make_user(session, o.org) for _ in range(3)]
            for user in users:
                deletion.delete_user(session, user, actor=o.admin, confirm=user.email)
            lead = create_lead(session, actor=o.admin, title="Gone", responsible_id=o.admin.id)
            delete_lead(session, lead, actor=o.admin)
    finally:
        engine.dispose()
    monkeypatch.setenv("ROSTER_DATABASE_URL", url)
    monkeypatch.setenv("ROSTER_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        clock.advance(timedelta(days=31))
        result = CliRunner().invoke(cli, ["purge"])
        assert result.exit_code == 0, result.output
        # Not on a terminal (a script, cron, a log): the one line, no progress bar's remains.
        assert result.output == "purged 3 deleted user(s) and 1 item(s) from the trash\n"
        again = CliRunner().invoke(cli, ["purge"])
        assert "purged 0 deleted user(s) and 0 item(s) from the trash" in again.output
    finally:
        get_settings.cache_clear()


def test_purge_deletes_rows_that_point_at_hidden_ones_first(client: TestClient, db: Session) -> None:
    """Comments under a deleted post go with it (by cascade or explicitly), never an FK error."""
    o, busy, _colleague, _other = _busy_org(client, db)
    deletion.delete_user(
        db, busy, actor=o.admin, confirm=busy.email, disposition=DispositionPlan(default=Disposition.DELETE)
    )
    clock.advance(timedelta(days=31))
    assert deletion.purge_expired(db) == 1
    amap = Base.metadata.tables["authorship"]
    assert db.scalar(select(func.count()).select_from(amap).where(amap.c.org_id == o.org.id)) is not None


def test_purge_works_in_batches(db: Session) -> None:
    o = make_org(db)
    users = [make_user(db, o.org) for _ in range(3)]
    for user in users:
        deletion.delete_user(db, user, actor=o.admin, confirm=user.email)
    clock.advance(timedelta(days=31))
    assert deletion.count_purgeable(db) == 3
    assert deletion.purge_expired(db, limit=2) == 2
    assert deletion.purge_expired(db, limit=2) == 1
    assert deletion.count_purgeable(db) == 0


@pytest.mark.postgres_only
def test_two_purgers_at_once_claim_different_deletions(databases: DatabaseFactory) -> None:
    """FOR UPDATE SKIP LOCKED: a second server process skips what the first is purging."""
    engine = make_engine(databases.new_database())
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            for _ in range(2):  # two organizations, so the two purges share no audit chain
                o = make_org(session)
                user = make_user(session, o.org)
                deletion.delete_user(session, user, actor=o.admin, confirm=user.email)
        clock.advance(timedelta(days=31))
        first, second = factory(), factory()
        try:
            assert deletion.purge_expired(first, limit=1) == 1  # holds its claim, uncommitted
            assert deletion.purge_expired(second, limit=5) == 1  # gets the other one only
            first.commit()
            second.commit()
        finally:
            first.close()
            second.close()
        with transaction(factory) as session:
            assert deletion.count_purgeable(session) == 0
            purged = session.scalar(
                select(func.count())
                .select_from(LifecycleOperation)
                .where(LifecycleOperation.purged_at.is_not(None))
            )
            assert purged == 2
    finally:
        engine.dispose()
