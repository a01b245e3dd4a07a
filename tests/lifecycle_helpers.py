"""Small helpers shared by the lifecycle tests."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.lifecycle.models import AuditEvent


def events(db: Session, org_id: uuid.UUID, action: str | None = None) -> list[AuditEvent]:
    """The organization's audit events, oldest first (optionally one action)."""
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.scalars(query.order_by(AuditEvent.seq)))


def actions(db: Session, org_id: uuid.UUID) -> list[str]:
    return [e.action for e in events(db, org_id)]
