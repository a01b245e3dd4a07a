"""The outbox: mail is written in the same transaction as the action that sends it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, TenantMixin


class OutboxMessage(TenantMixin, Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "sent_at", "next_attempt_at"),)

    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(50), default="")  # invitation, password_reset, ...
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_via: Mapped[str | None] = mapped_column(String(20))  # smtp | log
