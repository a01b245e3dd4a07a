"""CRM API: ``/crm/leads``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, CurrentUser, Principal
from roster.accounts.models import User
from roster.crm import service
from roster.crm.models import Lead, LeadStatus
from roster.crm.schemas import LeadIn, LeadOut, LeadPage, LeadPatch, lead_out
from roster.locations import set_location

router = APIRouter(tags=["crm"])


def _render(session: Session, principal: Principal, leads: list[Lead]) -> list[LeadOut]:
    ids = {lead.responsible_id for lead in leads} | {lead.creator_id for lead in leads}
    users = {
        u.id: u
        for u in session.scalars(select(User).where(User.org_id == principal.org_id, User.id.in_(ids)))
    }
    show = principal.organization(session).show_former_employee_names
    return [lead_out(lead, users, show_former_names=show) for lead in leads]


@router.post("/crm/leads", response_model=LeadOut, status_code=status.HTTP_201_CREATED)
def create_lead(
    body: LeadIn, request: Request, response: Response, principal: CurrentUser, session: DB
) -> LeadOut:
    """Enter a lead; the responsible person must be an active user."""
    lead = service.create_lead(session, actor=principal.user, **body.model_dump())
    set_location(request, response, f"/crm/leads/{lead.id}")
    return _render(session, principal, [lead])[0]


@router.get("/crm/leads", response_model=LeadPage)
def list_leads(
    principal: CurrentUser,
    session: DB,
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    responsible_id: uuid.UUID | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,  # beyond that an offset overflows SQL integers
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LeadPage:
    """The organization's leads, newest first."""
    leads, total = service.list_leads(
        session,
        principal.user,
        status=lead_status,
        responsible_id=responsible_id,
        page=page,
        per_page=per_page,
    )
    return LeadPage(items=_render(session, principal, leads), total=total)


@router.get("/crm/leads/{lead_id}", response_model=LeadOut)
def get_lead(lead_id: uuid.UUID, principal: CurrentUser, session: DB) -> LeadOut:
    return _render(session, principal, [service.get_lead(session, principal.user, lead_id)])[0]


@router.patch("/crm/leads/{lead_id}", response_model=LeadOut)
def update_lead(lead_id: uuid.UUID, body: LeadPatch, principal: CurrentUser, session: DB) -> LeadOut:
    """Change a lead: its creator, its responsible person or an admin."""
    lead = service.get_lead(session, principal.user, lead_id, for_update=True)
    service.update_lead(session, lead, actor=principal.user, **body.model_dump(exclude_unset=True))
    return _render(session, principal, [lead])[0]


@router.delete("/crm/leads/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_lead(lead_id: uuid.UUID, principal: CurrentUser, session: DB) -> Response:
    """Delete a lead: its creator or an admin."""
    lead = service.get_lead(session, principal.user, lead_id, for_update=True)
    service.delete_lead(session, lead, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
