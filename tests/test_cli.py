"""The command line, run as a real process: what it writes must be whole, whatever it imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.service import get_organization_by_slug
from roster.db.engine import make_engine
from roster.directory.search import autocomplete
from roster.lifecycle.audit import verify_chain
from roster.lifecycle.models import AuditEvent
from roster.mail.models import OutboxMessage
from tests.dbutil import DatabaseFactory


def roster(database_url: str, *args: str, tmp_path: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROSTER_DATABASE_URL": database_url, "ROSTER_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "roster.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_people_created_by_the_command_line_are_found_by_autocomplete(
    databases: DatabaseFactory, tmp_path: object
) -> None:
    url = databases.new_database()
    created = roster(url, "demo", tmp_path=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "organization: demo" in created.stdout
    org_created = roster(
        url, "org", "create", "--slug", "acme", "--name", "Acme Ltd", "--plan", "Free",
        "--admin-email", "jolene@acme.test", "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert org_created.returncode == 0, org_created.stderr
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            demo = get_organization_by_slug(session, "demo")
            acme = get_organization_by_slug(session, "acme")
            assert demo is not None and acme is not None
            names = [u.display_name for u in autocomplete(session, demo.id, "jo", 10)]
            assert "Jöhn Smith" in names and "Anna Jones" in names
            assert [u.email for u in autocomplete(session, acme.id, "jol", 10)] == ["jolene@acme.test"]
            # Each log starts with the organization's creation, and verifies.
            for org in (demo, acme):
                first = session.scalars(
                    select(AuditEvent).where(AuditEvent.org_id == org.id).order_by(AuditEvent.seq).limit(1)
                ).one()
                assert (first.seq, first.action) == (1, "organization.created")
                assert first.details["plan"] == "free" and first.details["slug"] == org.slug
                assert verify_chain(session, org.id).ok
    finally:
        engine.dispose()


def test_a_second_demo_run_changes_nothing(databases: DatabaseFactory, tmp_path: object) -> None:
    url = databases.new_database()
    assert roster(url, "demo", tmp_path=tmp_path).returncode == 0
    again = roster(url, "demo", tmp_path=tmp_path)
    assert again.returncode == 0 and "demo organization created" not in again.stdout


def test_the_sign_in_hint_names_where_the_server_will_listen(
    databases: DatabaseFactory, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.delenv("ROSTER_BASE_URL", raising=False)
    shown = roster(url, "demo", "--port", "8765", tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "http://127.0.0.1:8765/login" in shown.stdout
    # The demo's pending invitation, mailed when the server starts, links there too.
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            mailed = session.scalars(
                select(OutboxMessage.body_text).where(OutboxMessage.purpose == "invitation")
            )
            bodies = list(mailed)
    finally:
        engine.dispose()
    assert len(bodies) == 1 and "http://127.0.0.1:8765/invite/" in bodies[0], bodies
    monkeypatch.setenv("ROSTER_BASE_URL", "https://intranet.example.test")  # configured: it wins
    configured = roster(url, "demo", "--port", "8765", tmp_path=tmp_path)
    assert "https://intranet.example.test/login" in configured.stdout


@pytest.mark.parametrize("command", [["purge"], ["audit", "verify"], ["mail", "send"], ["demo"]])
def test_a_command_on_a_database_never_upgraded_says_to_upgrade_it(
    command: list[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ran = roster(url, *command, tmp_path=tmp_path)
    assert ran.returncode == 1
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stdout and "roster db upgrade" in ran.stdout


def test_creating_an_organization_on_a_database_never_upgraded_says_to_upgrade_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ran = roster(
        url, "org", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stdout


def test_an_unusable_database_url_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    ran = roster("nosuchdialect://somewhere/db", "db", "upgrade", tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_url_invalid)" in ran.stdout


def test_an_organization_name_longer_than_its_column_is_refused(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    ran = roster(
        url, "org", "create", "--slug", "acme", "--name", "x" * 201, "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (validation_failed)" in ran.stdout and "200" in ran.stdout
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert get_organization_by_slug(session, "acme") is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("option", [["--port", "99999"], ["--port", "0"], ["--workers", "0"]])
def test_serve_refuses_a_port_or_worker_count_out_of_range(option: list[str], tmp_path: Path) -> None:
    ran = roster(f"sqlite:///{tmp_path / 'r.db'}", "serve", *option, tmp_path=tmp_path)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Invalid value" in ran.stderr


def test_the_command_list_gives_each_command_one_whole_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per command
    shown = roster(f"sqlite:///{tmp_path / 'r.db'}", "--help", tmp_path=tmp_path)
    assert shown.returncode == 0
    assert "``" not in shown.stdout  # reStructuredText quoting is not for a terminal
    purge_line = next(line for line in shown.stdout.splitlines() if " purge " in line)
    assert "restore window has passed" in purge_line


def test_a_purge_with_nothing_due_says_so_without_a_progress_bar(
    databases: DatabaseFactory, tmp_path: object
) -> None:
    url = databases.new_database()
    assert roster(url, "demo", tmp_path=tmp_path).returncode == 0
    shown = roster(url, "purge", tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "purging deleted users" not in shown.stdout and "%" not in shown.stdout
    assert "purged 0 deleted user(s) and 0 item(s) from the trash" in shown.stdout
