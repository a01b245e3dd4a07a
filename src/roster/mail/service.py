"""Queueing mail. Delivery (SMTP with retries) lives in mail/delivery.py."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from roster.mail.models import OutboxMessage


def queue_mail(
    session: Session, *, org_id: uuid.UUID, to: str, subject: str, body: str, purpose: str
) -> OutboxMessage:
    """Write a message to the outbox in the caller's transaction; it is sent after commit."""
    message = OutboxMessage(org_id=org_id, to_address=to, subject=subject, body_text=body, purpose=purpose)
    session.add(message)
    return message
