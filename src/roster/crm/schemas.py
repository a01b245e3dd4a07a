"""Request and response shapes of the CRM API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from roster.accounts.models import User
from roster.accounts.schemas import UserRef, user_ref
from roster.crm.models import Lead, LeadStatus
from roster.patches import Patch

# Generous transport limits; the service applies the real ones with a clear code.
_MAX = 50_000


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=_MAX)
    responsible_id: uuid.UUID
    contact_name: str = Field(default="", max_length=_MAX)
    contact_email: str = Field(default="", max_length=_MAX)
    contact_phone: str = Field(default="", max_length=_MAX)
    company: str = Field(default="", max_length=_MAX)
    notes: str = Field(default="", max_length=_MAX)
    status: LeadStatus = LeadStatus.NEW


class LeadPatch(Patch):
    """Only the fields sent change."""

    title: str | None = Field(default=None, max_length=_MAX)
    responsible_id: uuid.UUID | None = None
    contact_name: str | None = Field(default=None, max_length=_MAX)
    contact_email: str | None = Field(default=None, max_length=_MAX)
    contact_phone: str | None = Field(default=None, max_length=_MAX)
    company: str | None = Field(default=None, max_length=_MAX)
    notes: str | None = Field(default=None, max_length=_MAX)
    status: LeadStatus | None = None


class LeadOut(BaseModel):
    id: uuid.UUID
    title: str
    contact_name: str
    contact_email: str
    contact_phone: str
    company: str
    notes: str
    status: LeadStatus
    responsible: UserRef
    created_by: UserRef
    created_at: datetime
    updated_at: datetime


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int


def lead_out(lead: Lead, users: dict[uuid.UUID, User], *, show_former_names: bool) -> LeadOut:
    """The API shape of a lead; ``users`` holds its people (loaded once per page)."""
    return LeadOut(
        id=lead.id,
        title=lead.title,
        contact_name=lead.contact_name,
        contact_email=lead.contact_email,
        contact_phone=lead.contact_phone,
        company=lead.company,
        notes=lead.notes,
        status=LeadStatus(lead.status),
        responsible=user_ref(users[lead.responsible_id], show_former_names=show_former_names),
        created_by=user_ref(users[lead.creator_id], show_former_names=show_former_names),
        created_at=lead.created_at,
        updated_at=lead.updated_at,
    )
