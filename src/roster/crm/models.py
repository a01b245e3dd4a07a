"""CRM leads: a prospective deal, its contact, and the person who answers for it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, Hideable, TenantMixin
from roster.references import Disposition, Meaning, StillOpen, UserReference, register
from roster.trash.registry import TrashKind, titled_by
from roster.trash.registry import register as register_trash


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"


def _user_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", column], ["users.org_id", "users.id"])


class Lead(TenantMixin, Hideable, Base):
    __tablename__ = "crm_leads"
    __table_args__ = (
        _user_fk("responsible_id"),
        _user_fk("creator_id"),
        Index("ix_crm_leads_responsible", "org_id", "responsible_id"),
        Index("ix_crm_leads_creator", "org_id", "creator_id"),
        Index("ix_crm_leads_org_status", "org_id", "status"),
        Index("ix_crm_leads_org_created", "org_id", "created_at"),
    )

    title: Mapped[str] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=LeadStatus.NEW.value)
    responsible_id: Mapped[uuid.UUID] = mapped_column()
    creator_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


# A lead won or lost is closed.
_LEAD_OPEN = StillOpen(column="status", closed=(LeadStatus.WON.value, LeadStatus.LOST.value))

register(
    UserReference(
        kind="crm.lead.responsible",
        table="crm_leads",
        column="responsible_id",
        label="Leads they are responsible for",
        meaning=Meaning.RESPONSIBLE,
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE),
        hide_column="hidden_by",
        open_when=_LEAD_OPEN,
    )
)
register(
    UserReference(
        kind="crm.lead.creator",
        table="crm_leads",
        column="creator_id",
        label="Leads they entered",
        meaning=Meaning.CREATOR,
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR),
        open_when=_LEAD_OPEN,
    )
)


# --- the trash ------------------------------------------------------------------------------

_LEADS: Table = Lead.__table__  # type: ignore[assignment]

register_trash(
    TrashKind(
        name="lead",
        label="Lead",
        table=_LEADS,
        owner_column="creator_id",
        describe=titled_by(_LEADS, "title"),
    )
)
