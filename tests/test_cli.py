"""The command line, run as a real process: what it writes must be whole, whatever it imported."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from roster import cli
from roster.accounts.ratelimit import LoginLimiter
from roster.accounts.service import create_organization, get_organization_by_slug
from roster.db.engine import make_engine, make_sessionmaker
from roster.db.migrate import alembic_config, downgrade
from roster.directory.search import autocomplete
from roster.domain import errors
from roster.lifecycle.audit import verify_chain
from roster.lifecycle.models import AuditEvent
from roster.mail.models import OutboxMessage
from roster.settings import SecretKeyFileInvalid, Settings, get_settings
from tests.dbutil import DatabaseFactory
from tests.liveserver import free_port


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
    path = tmp_path / "empty.db"
    url = f"sqlite:///{path}"
    ran = roster(url, *command, tmp_path=tmp_path)
    assert ran.returncode == 1
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stderr and "roster db upgrade" in ran.stderr
    assert str(path) in ran.stderr and not path.exists()  # no empty file left behind
    path.touch()  # a file with no tables in it
    ran = roster(url, *command, tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stderr and "roster db upgrade" in ran.stderr


def test_creating_an_organization_on_a_database_never_upgraded_says_to_upgrade_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ran = roster(
        url, "org", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stderr


def test_an_unusable_database_url_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    ran = roster("nosuchdialect://somewhere/db", "db", "upgrade", tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_url_invalid)" in ran.stderr


def test_an_organization_name_longer_than_its_column_is_refused(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    ran = roster(
        url, "org", "create", "--slug", "acme", "--name", "x" * 201, "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (validation_failed)" in ran.stderr and "200" in ran.stderr
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


def _invitation_bodies(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(select(OutboxMessage.body_text).where(OutboxMessage.purpose == "invitation"))
            )
    finally:
        engine.dispose()


def test_errors_go_to_stderr_and_leave_stdout_empty(databases: DatabaseFactory, tmp_path: Path) -> None:
    url = databases.new_database()
    ran = roster(
        url, "org", "create", "--slug", "Not a slug!", "--name", "Acme", "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1
    assert ran.stdout == "" and "error (invalid_slug)" in ran.stderr


@pytest.mark.parametrize("slug", ["-acme", "acme-"])
def test_a_slug_with_a_hyphen_at_an_end_is_refused_saying_why(
    databases: DatabaseFactory, tmp_path: Path, slug: str
) -> None:
    url = databases.new_database()
    ran = roster(
        url, "org", "create", "--slug", slug, "--name", "Acme", "--admin-email", "a@acme.test",
        "--admin-password", "S3cure-pass!-long", tmp_path=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 1 and ran.stdout == ""
    assert "error (invalid_slug)" in ran.stderr and "starting and ending with a letter or digit" in ran.stderr


@pytest.mark.parametrize("password", ["short", "aaaaaaaaaa"])
def test_the_demo_refuses_a_weak_password_in_one_line(
    password: str, databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    ran = roster(url, "demo", "--password", password, tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.startswith("error (weak_password): ") and len(ran.stderr.splitlines()) == 1
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert get_organization_by_slug(session, "demo") is None
    finally:
        engine.dispose()


def test_an_existing_demo_says_its_passwords_were_not_changed(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    assert roster(url, "demo", tmp_path=tmp_path).returncode == 0
    again = roster(url, "demo", "--password", "another-password-9", tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "demo organization exists; its passwords were not changed" in again.stdout
    assert "another-password-9" not in again.stdout  # it would not sign anyone in


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("ROSTER_SMTP_PORT", "abc", ["audit", "verify"]),
        ("ROSTER_LOG_LEVEL", "verbose", ["serve", "--port", "8765"]),
        ("ROSTER_BASE_URL", "intranet.example.com", ["demo"]),
        ("ROSTER_BASE_URL", "ftp://intranet.example.com", ["demo"]),
        ("ROSTER_SMTP_PORT", "70000", ["mail", "send"]),
        ("ROSTER_SESSION_DAYS", "0", ["audit", "verify"]),
        ("ROSTER_INVITATION_DAYS", "-1", ["demo"]),
        ("ROSTER_PASSWORD_RESET_MINUTES", "0", ["purge"]),
        ("ROSTER_MAX_UPLOAD_BYTES", "0", ["audit", "verify"]),
        ("ROSTER_MAX_PHOTO_BYTES", "-1", ["demo"]),
        ("ROSTER_MAIL_FROM", "no-reply", ["mail", "send"]),
        ("ROSTER_LOGIN_LIMIT_PER_ACCOUNT", "ten a minute", ["serve", "--port", "8765"]),
        ("ROSTER_LOGIN_LIMIT_PER_ADDRESS", "30/fortnight", ["serve", "--port", "8765"]),
        ("ROSTER_LOGIN_LIMIT_PER_ADDRESS", "30/minute;5/second", ["audit", "verify"]),
        ("ROSTER_RATE_LIMIT_STORAGE", "redis//127.0.0.1:6379", ["serve", "--port", "8765"]),
        ("ROSTER_RATE_LIMIT_STORAGE", "memcached://127.0.0.1:11211", ["serve", "--port", "8765"]),
        ("ROSTER_SECRET_KEY", "changeme", ["demo"]),
        ("ROSTER_SECRET_KEY", "x" * 31, ["audit", "verify"]),
    ],
)
def test_a_setting_that_is_not_valid_is_named_in_one_line(
    variable: str,
    value: str,
    command: list[str],
    databases: DatabaseFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = databases.new_database()
    monkeypatch.setenv(variable, value)
    ran = roster(url, *command, tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.startswith(f"error (settings_invalid): {variable}: "), ran.stderr
    assert len(ran.stderr.splitlines()) == 1 and ran.stdout == ""


def test_an_upgrade_says_so_when_the_schema_at_the_newest_revision_is_not_this_rosters(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    # A database migrated by a development build whose migration was filled in later (0005 was an
    # empty slot at first), or changed by hand: at the newest revision, with a table missing.
    url = databases.new_database()
    assert roster(url, "db", "upgrade", tmp_path=tmp_path).stdout.strip() == "database is up to date"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE scim_tokens"))
    finally:
        engine.dispose()
    ran = roster(url, "db", "upgrade", tmp_path=tmp_path)
    assert ran.returncode == 1 and "up to date" not in ran.stdout, ran.stdout
    assert ran.stderr.startswith("error (database_schema_differs): ") and len(ran.stderr.splitlines()) == 1
    assert "table scim_tokens is missing" in ran.stderr, ran.stderr


def test_sign_in_limits_can_be_kept_in_redis() -> None:
    # The README's way to share sign-in limits between server processes: its client is installed,
    # and making the limiter connects to nothing until someone signs in.
    settings = Settings(rate_limit_storage="redis://127.0.0.1:6379", login_limit_per_account="5/hour")
    assert settings.rate_limit_storage == "redis://127.0.0.1:6379"
    LoginLimiter(settings)


def test_server_processes_started_together_keep_the_secret_key_the_first_one_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `roster serve --workers 4` on a new data directory: each process finds no key and makes one.
    # Another process writes its key between this one's look and its write; this one must take
    # that key, not write its own over it (forms one process signed would fail in the other).
    theirs = "the-key-another-server-process-wrote-first"
    make_key = secrets.token_urlsafe

    def another_process_writes_first(length: int) -> str:
        (tmp_path / "secret_key").write_text(theirs)
        return make_key(length)

    monkeypatch.setattr(secrets, "token_urlsafe", another_process_writes_first)
    settings = Settings(data_dir=tmp_path, secret_key=None)
    assert settings.resolved_secret_key == theirs
    assert (tmp_path / "secret_key").read_text() == theirs
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_a_generated_secret_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = Settings(data_dir=tmp_path / "new", secret_key=None).resolved_secret_key
    assert len(key) >= 64 and (tmp_path / "new" / "secret_key").read_text() == key
    assert (tmp_path / "new" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_short_secret_key_is_refused_saying_how_to_make_one_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTER_SECRET_KEY", "our-company-name-2026")
    ran = roster(f"sqlite:///{tmp_path / 'r.db'}", "db", "upgrade", tmp_path=tmp_path)
    assert ran.returncode == 1 and ran.stdout == ""
    assert ran.stderr == (
        "error (settings_invalid): ROSTER_SECRET_KEY: must be at least 32 characters long, not 21; "
        'make one with python -c "import secrets; print(secrets.token_urlsafe(32))", or leave it '
        "unset to have Roster generate one in the data directory\n"
    )
    assert not (tmp_path / "r.db").exists() and not (tmp_path / "secret_key").exists()
    # Spaces around a key do not make it longer; the command it names makes one that is taken.
    with pytest.raises(ValidationError, match="at least 32 characters long, not 31"):
        Settings(data_dir=tmp_path, secret_key=" " * 20 + "x" * 31 + " " * 20)
    made = subprocess.run(
        [sys.executable, "-c", "import secrets; print(secrets.token_urlsafe(32))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Settings(data_dir=tmp_path, secret_key=made).resolved_secret_key == made
    assert Settings(data_dir=tmp_path, secret_key="k" * 32).resolved_secret_key == "k" * 32
    # Left empty it is unset: a key is generated, as the README says.
    assert len(Settings(data_dir=tmp_path, secret_key="").resolved_secret_key) >= 64


@pytest.mark.parametrize("stored", ["", "\n", "written-by-hand-2026\n"])
def test_a_key_file_too_short_to_sign_with_stops_the_server_in_one_line_without_showing_it(
    stored: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROSTER_SECRET_KEY", raising=False)  # the key is read from the file
    # An emptied or hand-written data_dir/secret_key would sign every form with a key anyone could
    # guess (an empty one with none at all): the server does not start, and says what to do.
    (tmp_path / "secret_key").write_text(stored)
    with pytest.raises(SecretKeyFileInvalid, match=f"holds a key of {len(stored.strip())} characters"):
        Settings(data_dir=tmp_path, secret_key=None).resolved_secret_key  # noqa: B018
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert roster(url, "db", "upgrade", tmp_path=tmp_path).returncode == 0  # other commands sign nothing
    served = roster(url, "serve", "--port", str(free_port()), tmp_path=tmp_path)
    assert served.returncode == 1 and served.stdout == ""
    assert served.stderr.startswith("error (secret_key_invalid): ") and len(served.stderr.splitlines()) == 1
    assert "delete it to have Roster generate one" in served.stderr
    env = {**os.environ, "ROSTER_DATABASE_URL": url, "ROSTER_DATA_DIR": str(tmp_path)}
    imported = subprocess.run(
        [sys.executable, "-c", "import roster.asgi"], env=env, capture_output=True, text=True, timeout=120
    )
    assert imported.returncode == 1 and "Traceback" not in imported.stderr
    assert imported.stderr.startswith("Roster cannot start: ") and len(imported.stderr.splitlines()) == 1
    if stored.strip():
        assert stored.strip() not in served.stderr + imported.stderr
    assert (tmp_path / "secret_key").read_text() == stored  # left as it was, for its owner to mend


def test_a_log_level_is_taken_in_any_case() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"


@pytest.mark.parametrize(
    "url", ["mysql://u@db.example.test/roster", "postgresql+psycopg2://u@db.example.test/roster"]
)
def test_a_database_url_roster_cannot_use_names_the_ones_it_can(url: str, tmp_path: Path) -> None:
    ran = roster(url, "db", "upgrade", tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.startswith("error (database_url_invalid): ") and len(ran.stderr.splitlines()) == 1
    assert "sqlite:///" in ran.stderr and "postgresql+psycopg://" in ran.stderr


@pytest.mark.parametrize("command", [["db", "upgrade"], ["audit", "verify"]])
def test_a_database_migrated_by_a_newer_roster_is_refused_in_one_line(
    command: list[str], databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    finally:
        engine.dispose()
    ran = roster(url, *command, tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.startswith("error (database_newer): ") and len(ran.stderr.splitlines()) == 1
    assert "ffffffffffff" in ran.stderr and f"{head}" in ran.stderr


def test_a_command_on_a_database_not_yet_upgraded_says_to_upgrade_it(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    downgrade(url, "-1")
    ran = roster(url, "audit", "verify", tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_not_ready)" in ran.stderr and "roster db upgrade" in ran.stderr
    assert roster(url, "db", "upgrade", tmp_path=tmp_path).returncode == 0
    assert roster(url, "audit", "verify", tmp_path=tmp_path).returncode == 0


def test_an_sqlite_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    ran = roster(f"sqlite:///{directory}", "audit", "verify", tmp_path=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "error (database_unavailable)" in ran.stderr and str(directory) in ran.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_links_never_name_a_wildcard_address(
    host: str, databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.delenv("ROSTER_BASE_URL", raising=False)
    shown = roster(url, "demo", "--host", host, "--port", "8765", tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "http://127.0.0.1:8765/login" in shown.stdout
    assert "warning" in shown.stderr and "ROSTER_BASE_URL" in shown.stderr
    [body] = _invitation_bodies(url)
    assert "http://127.0.0.1:8765/invite/" in body


def test_serve_on_a_wildcard_address_warns_that_links_need_the_base_url(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.delenv("ROSTER_BASE_URL", raising=False)
    monkeypatch.setenv("ROSTER_BACKGROUND_WORKERS", "false")
    # The port is taken on the loopback address, so the server stops at once instead of
    # listening on every interface.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = roster(url, "serve", "--host", "0.0.0.0", "--port", str(port), tmp_path=tmp_path)
    assert ran.returncode != 0
    assert "ROSTER_BASE_URL" in ran.stderr and f"http://127.0.0.1:{port}" in ran.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_says_so_in_one_line_and_never_that_it_started(
    workers: str, databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.setenv("ROSTER_BACKGROUND_WORKERS", "false")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = roster(url, "serve", "--port", str(port), "--workers", workers, tmp_path=tmp_path)
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == (
        f"error (address_in_use): cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(another server is listening there); choose another port with --port\n"
    )


def test_serve_on_an_address_it_cannot_listen_on_says_so_in_one_line(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.setenv("ROSTER_BACKGROUND_WORKERS", "false")
    monkeypatch.setenv("ROSTER_BASE_URL", "http://intranet.example.com")
    ran = roster(url, "serve", "--host", "no-such-host.invalid", "--port", "8000", tmp_path=tmp_path)
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr.startswith("error (address_unavailable): cannot listen on no-such-host.invalid:8000: ")
    assert len(ran.stderr.splitlines()) == 1, ran.stderr


def test_mail_send_without_an_smtp_host_shows_each_message(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    monkeypatch.delenv("ROSTER_BASE_URL", raising=False)
    monkeypatch.delenv("ROSTER_SMTP_HOST", raising=False)
    assert roster(url, "demo", "--port", "8765", tmp_path=tmp_path).returncode == 0
    sent = roster(url, "mail", "send", tmp_path=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "new.hire@demo.test" in sent.stdout and "invited you to Demo Company" in sent.stdout
    assert "http://127.0.0.1:8765/invite/" in sent.stdout
    assert "delivered 1 message(s)" in sent.stdout


def test_mail_send_with_the_smtp_server_down_fails(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    assert roster(url, "demo", tmp_path=tmp_path).returncode == 0
    monkeypatch.setenv("ROSTER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROSTER_SMTP_PORT", str(free_port()))  # nothing listens there
    sent = roster(url, "mail", "send", tmp_path=tmp_path)
    assert sent.returncode == 1
    assert "delivered 0, failed 1" in sent.stderr and "new.hire@demo.test" in sent.stderr


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_admin_password_prompt_asks_for_it_twice(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    url = databases.new_database()
    monkeypatch.setenv("ROSTER_DATABASE_URL", url)
    monkeypatch.setenv("ROSTER_DATA_DIR", str(tmp_path))
    args = ["org", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.test"]
    typo = CliRunner().invoke(cli.app, args, input="S3cure-pass!-long\nS3cure-pass!-lung\n")
    assert typo.exit_code != 0 and "do not match" in typo.output
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert get_organization_by_slug(session, "acme") is None
        same = CliRunner().invoke(cli.app, args, input="S3cure-pass!-long\nS3cure-pass!-long\n")
        assert same.exit_code == 0, same.output
        with Session(engine) as session:
            assert get_organization_by_slug(session, "acme") is not None
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_an_organization_create_that_loses_the_slug_race_says_the_organization_exists(
    databases: DatabaseFactory,
) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    outcome: list[BaseException] = []

    def second() -> None:
        try:
            with factory() as session, session.begin():
                create_organization(
                    session, slug="acme", name="Acme Two", plan="free",
                    admin_email="b@acme.test", admin_password="S3cure-pass!-long",
                )  # fmt: skip
        except BaseException as exc:
            outcome.append(exc)

    try:
        with factory() as first:
            first.begin()
            create_organization(
                first, slug="acme", name="Acme", plan="free",
                admin_email="a@acme.test", admin_password="S3cure-pass!-long",
            )  # fmt: skip
            thread = threading.Thread(target=second)
            thread.start()
            # The second has found the slug free and waits on the first's row in the unique index.
            deadline = time.monotonic() + 30
            with engine.connect() as watcher:
                while not watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ):
                    assert time.monotonic() < deadline, "the second create never waited"
                    time.sleep(0.05)
            first.commit()
        thread.join(timeout=30)
    finally:
        engine.dispose()
    [error] = outcome
    assert isinstance(error, errors.OrganizationExists), repr(error)
    assert error.code == "organization_exists"


@contextmanager
def _serve(url: str, tmp_path: Path, *options: str, **env: str) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "roster.cli", "serve", "--port", str(port), *options],
        env={
            **os.environ,
            "ROSTER_DATABASE_URL": url,
            "ROSTER_DATA_DIR": str(tmp_path),
            "ROSTER_BACKGROUND_WORKERS": "false",
            "ROSTER_LOGIN_LIMIT_PER_ADDRESS": "2/minute",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _failed_sign_ins_from_three_clients(base: str) -> list[int]:
    return [
        httpx.post(
            f"{base}/api/v1/auth/login",
            json={"organization": "demo", "email": f"nobody{i}@demo.test", "password": "wrong-password-1"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
            timeout=30,
        ).status_code
        for i in range(3)
    ]


def test_serve_trusts_forwarded_addresses_only_from_the_proxies_it_is_told(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.new_database()
    assert roster(url, "demo", tmp_path=tmp_path).returncode == 0
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    # Uvicorn's own default when the option is left out: the environment names the proxy, and the
    # clients behind this untrusted one share its address and its limit.
    with _serve(url, tmp_path, FORWARDED_ALLOW_IPS="10.255.255.1") as base:
        assert _failed_sign_ins_from_three_clients(base) == [401, 401, 429]
    # Told that this address is the proxy, the server sees the clients' own addresses.
    with _serve(
        url, tmp_path, "--forwarded-allow-ips", "127.0.0.1", FORWARDED_ALLOW_IPS="10.255.255.1"
    ) as base:
        assert _failed_sign_ins_from_three_clients(base) == [401, 401, 401]


def test_serve_help_explains_the_forwarded_allow_ips_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    shown = roster(f"sqlite:///{tmp_path / 'r.db'}", "serve", "--help", tmp_path=tmp_path)
    assert shown.returncode == 0
    words = " ".join(shown.stdout.replace("│", " ").split())
    assert (
        "--forwarded-allow-ips" in words and "Behind a reverse proxy, set it to the proxy's address" in words
    )
    assert "sign-in rate limits see each client's address" in words
