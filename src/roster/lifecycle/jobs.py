"""Background jobs of the lifecycle and mail features (registered in roster.workers)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from roster.db.engine import transaction
from roster.lifecycle.invitations import expire_invitations
from roster.mail.delivery import deliver_due_mail
from roster.settings import Settings

MAIL_INTERVAL_SECONDS = 5.0
EXPIRY_INTERVAL_SECONDS = 300.0


def lifecycle_jobs(app: FastAPI) -> list[tuple[str, float, Callable[[], object]]]:
    """Mail delivery and invitation expiry, each run on the app's writing sessions."""
    factory: sessionmaker[Session] = app.state.sessions["write"]
    settings: Settings = app.state.settings

    def deliver() -> int:
        return deliver_due_mail(factory, settings)

    def expire() -> int:
        with transaction(factory) as session:
            return expire_invitations(session)

    return [
        ("mail-delivery", MAIL_INTERVAL_SECONDS, deliver),
        ("invitation-expiry", EXPIRY_INTERVAL_SECONDS, expire),
    ]
