"""Delivering the outbox over SMTP, with retries and backoff.

Each run claims due messages in a short transaction (on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so
several server processes never claim the same message; on SQLite the claim runs under the write
lock) by pushing their ``next_attempt_at`` forward by a lease, commits, sends, then marks each
message sent, or failed with an exponential backoff. A message is marked sent only after the SMTP
server accepted it, so an outage delays mail but never loses it; the only duplicate possible is a
process dying between the server's acceptance and the mark, and then the lease must pass first.
Without an SMTP host, messages are written to the log and kept in the outbox (``delivered_via``
``log``).
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from roster import clock
from roster.mail.models import OutboxMessage
from roster.settings import Settings

log = logging.getLogger("roster.mail")

LEASE = timedelta(minutes=10)
BASE_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)
SMTP_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Claimed:
    org_id: uuid.UUID
    id: uuid.UUID
    to_address: str
    subject: str
    body_text: str
    attempts: int


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failures: 1, 2, 4 ... minutes, at most 6 hours."""
    delay: timedelta = min(BASE_BACKOFF * (2 ** min(max(attempts - 1, 0), 20)), MAX_BACKOFF)
    return delay


def _claim(factory: sessionmaker[Session], batch: int) -> list[Claimed]:
    with factory() as session, session.begin():
        now = clock.now()
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            # Compare-and-set: only the claimer that still sees the message due gets it.
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.org_id == row.org_id,
                    OutboxMessage.id == row.id,
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount or 0) == 1:  # type: ignore[attr-defined]
                claimed.append(
                    Claimed(row.org_id, row.id, row.to_address, row.subject, row.body_text, row.attempts)
                )
        return claimed


def _message(settings: Settings, claimed: Claimed) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = claimed.to_address
    message["Subject"] = claimed.subject
    message["Date"] = format_datetime(clock.now())
    # Stable per outbox row, so a receiving system can recognise a rare re-delivery.
    message["Message-ID"] = make_msgid(idstring=claimed.id.hex, domain="roster.invalid")
    message["X-Roster-Outbox-Id"] = str(claimed.id)
    message.set_content(claimed.body_text)
    return message


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)


def _mark_sent(factory: sessionmaker[Session], claimed: Claimed, via: str) -> None:
    with factory() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.org_id == claimed.org_id,
                OutboxMessage.id == claimed.id,
                OutboxMessage.sent_at.is_(None),
            )
            .values(
                sent_at=clock.now(),
                delivered_via=via,
                attempts=OutboxMessage.attempts + 1,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )


def _mark_failed(factory: sessionmaker[Session], claimed: Claimed, error: str) -> None:
    attempts = claimed.attempts + 1
    with factory() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.org_id == claimed.org_id,
                OutboxMessage.id == claimed.id,
                OutboxMessage.sent_at.is_(None),
            )
            .values(
                attempts=attempts,
                next_attempt_at=clock.now() + backoff(attempts),
                last_error=error[:2000],
            )
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Failure:
    to_address: str
    attempt: int
    error: str


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: list[Failure] = field(default_factory=list)


def send_due_mail(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    batch: int = 50,
    show: Callable[[Claimed], None] | None = None,
) -> DeliveryReport:
    """Send every due message once: how many were delivered (to SMTP or, without an SMTP host, to
    the log and to ``show``), and which failed (each is retried later, with backoff)."""
    report = DeliveryReport()
    while True:
        claimed = _claim(session_factory, batch)
        for item in claimed:
            if not settings.smtp_host:
                log.info(
                    "mail (no SMTP configured) to=%s subject=%r\n%s",
                    item.to_address,
                    item.subject,
                    item.body_text,
                )
                if show is not None:
                    show(item)
                _mark_sent(session_factory, item, "log")
                report.delivered += 1
                continue
            try:
                _send_smtp(settings, _message(settings, item))
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("mail to %s failed (attempt %s): %s", item.to_address, item.attempts + 1, exc)
                _mark_failed(session_factory, item, f"{type(exc).__name__}: {exc}")
                report.failed.append(Failure(item.to_address, item.attempts + 1, str(exc)))
                continue
            _mark_sent(session_factory, item, "smtp")
            report.delivered += 1
        if len(claimed) < batch:
            return report


def deliver_due_mail(session_factory: sessionmaker[Session], settings: Settings, *, batch: int = 50) -> int:
    """Send every due message once; returns how many were delivered (to SMTP or to the log)."""
    return send_due_mail(session_factory, settings, batch=batch).delivered
