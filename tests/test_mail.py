"""Mail delivery from the outbox over real SMTP: retries, backoff, outages, several workers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from roster import clock
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.mail.delivery import Claimed, backoff, deliver_due_mail, send_due_mail
from roster.mail.models import OutboxMessage
from roster.mail.service import queue_mail
from roster.settings import Settings
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import make_org


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 Message accepted"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(message_from_bytes(m)["Subject"]) for m in self.messages]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def real_db(databases: DatabaseFactory) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    engine = make_engine(databases.new_database())
    yield engine, make_sessionmaker(writer(engine))
    engine.dispose()


def _queue(factory: sessionmaker[Session], count: int) -> None:
    with transaction(factory) as session:
        o = make_org(session)
        for i in range(count):
            queue_mail(
                session,
                org_id=o.org.id,
                to=f"p{i}@example.test",
                subject=f"Message {i}",
                body="Hi",
                purpose="test",
            )


def _outbox(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.subject)))


def _smtp_settings(tmp_path: Path, port: int) -> Settings:
    return make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port)


def test_due_mail_is_delivered_over_smtp_once(
    real_db: tuple[Engine, sessionmaker[Session]], smtp: SmtpServer, tmp_path: Path
) -> None:
    _, factory = real_db
    _queue(factory, 3)
    settings = _smtp_settings(tmp_path, smtp.port)
    assert deliver_due_mail(factory, settings) == 3
    assert sorted(smtp.inbox.subjects()) == ["Message 0", "Message 1", "Message 2"]
    assert deliver_due_mail(factory, settings) == 0  # nothing twice
    assert len(smtp.inbox.messages) == 3
    rows = _outbox(factory)
    assert all(r.sent_at is not None and r.delivered_via == "smtp" and r.attempts == 1 for r in rows)
    received = message_from_bytes(smtp.inbox.messages[0])
    assert received["From"] == settings.mail_from and received["X-Roster-Outbox-Id"]


def test_an_outage_delays_mail_and_it_arrives_exactly_once_afterwards(
    real_db: tuple[Engine, sessionmaker[Session]], smtp: SmtpServer, tmp_path: Path
) -> None:
    _, factory = real_db
    _queue(factory, 2)
    settings = _smtp_settings(tmp_path, smtp.port)
    smtp.stop()
    assert deliver_due_mail(factory, settings) == 0
    rows = _outbox(factory)
    assert all(r.sent_at is None and r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at > clock.now() for r in rows)  # backing off
    # Still down, and not yet due: nothing is tried.
    assert deliver_due_mail(factory, settings) == 0
    assert _outbox(factory)[0].attempts == 1
    clock.advance(backoff(1) + timedelta(seconds=1))
    assert deliver_due_mail(factory, settings) == 0
    assert all(r.attempts == 2 for r in _outbox(factory))
    smtp.start()  # the server is back
    clock.advance(backoff(2) + timedelta(seconds=1))
    assert deliver_due_mail(factory, settings) == 2
    assert deliver_due_mail(factory, settings) == 0
    assert sorted(smtp.inbox.subjects()) == ["Message 0", "Message 1"]
    rows = _outbox(factory)
    assert all(r.sent_at is not None and r.attempts == 3 and r.last_error is None for r in rows)


def test_without_smtp_mail_is_logged_and_kept_in_the_outbox(
    real_db: tuple[Engine, sessionmaker[Session]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, factory = real_db
    _queue(factory, 1)
    with caplog.at_level(logging.INFO, logger="roster.mail"):
        assert deliver_due_mail(factory, make_settings(tmp_path)) == 1
    assert "Message 0" in caplog.text and "p0@example.test" in caplog.text
    [row] = _outbox(factory)
    assert row.delivered_via == "log" and row.sent_at is not None
    assert deliver_due_mail(factory, make_settings(tmp_path)) == 0


def test_a_delivery_run_reports_what_failed_and_shows_what_it_did_not_send(
    real_db: tuple[Engine, sessionmaker[Session]], smtp: SmtpServer, tmp_path: Path
) -> None:
    _, factory = real_db
    _queue(factory, 2)
    smtp.stop()
    report = send_due_mail(factory, _smtp_settings(tmp_path, smtp.port))
    assert report.delivered == 0
    assert sorted(f.to_address for f in report.failed) == ["p0@example.test", "p1@example.test"]
    assert all(f.attempt == 1 and f.error for f in report.failed)
    clock.advance(backoff(1) + timedelta(seconds=1))
    shown: list[Claimed] = []
    report = send_due_mail(factory, make_settings(tmp_path), show=shown.append)  # no SMTP host
    assert report.delivered == 2 and report.failed == []
    assert sorted((c.to_address, c.subject, c.body_text) for c in shown) == [
        ("p0@example.test", "Message 0", "Hi"),
        ("p1@example.test", "Message 1", "Hi"),
    ]


def test_several_workers_never_send_a_message_twice(
    real_db: tuple[Engine, sessionmaker[Session]], smtp: SmtpServer, tmp_path: Path
) -> None:
    engine, _ = real_db
    url = engine.url.render_as_string(hide_password=False)
    _queue(make_sessionmaker(writer(engine)), 40)
    settings = _smtp_settings(tmp_path, smtp.port)
    counts: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        own = make_engine(url)  # each worker: its own engine and connections, like a server process
        try:
            counts.append(deliver_due_mail(make_sessionmaker(writer(own)), settings, batch=5))
        except BaseException as exc:
            failures.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert sum(counts) == 40
    deadline = time.monotonic() + 5
    while len(smtp.inbox.messages) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    subjects = smtp.inbox.subjects()
    assert len(subjects) == 40 and len(set(subjects)) == 40


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert backoff(50) == timedelta(hours=6)
