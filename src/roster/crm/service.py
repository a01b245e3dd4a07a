"""CRM leads: the organization's shared pipeline. Every member sees every lead; the creator, the
responsible person and admins change one; the creator and admins delete one. Services never commit.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.crm.models import Lead, LeadStatus
from roster.domain import errors
from roster.domain.text import clean_text
from roster.trash.models import TrashItem
from roster.trash.service import move_to_trash

TITLE_LIMIT = 300
NAME_LIMIT = 200
PHONE_LIMIT = 50
NOTES_LIMIT = 20_000
_PHONE_RE = re.compile(r"^\+?[0-9 ()./-]*(?:(?:ext\.?|x) ?[0-9]+)?$", re.IGNORECASE)


def _active(session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, field: str) -> User:
    return accounts.require_active_user(session, org_id, user_id, field=field)


def _line(value: str, field: str, limit: int, *, allow_empty: bool = True) -> str:
    return clean_text(value, field=field, limit=limit, multiline=False, allow_empty=allow_empty)


def _email(value: str) -> str:
    value = _line(value, "contact_email", 320)
    if not value:
        return ""
    try:
        return accounts.normalize_email(value)
    except errors.InvalidEmail as exc:
        exc.extra["field"] = "contact_email"
        raise


def _phone(value: str) -> str:
    value = _line(value, "contact_phone", PHONE_LIMIT)
    if value and not (_PHONE_RE.match(value) and any(ch.isdigit() for ch in value)):
        raise errors.ValidationFailed("That is not a phone number.", field="contact_phone")
    return value


def create_lead(
    session: Session,
    *,
    actor: User,
    title: str,
    responsible_id: uuid.UUID,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    company: str = "",
    notes: str = "",
    status: LeadStatus = LeadStatus.NEW,
) -> Lead:
    """Enter a lead; the responsible person must be an active user of the actor's organization."""
    accounts.require_live_actor(session, actor)
    lead = Lead(
        org_id=actor.org_id,
        title=_line(title, "title", TITLE_LIMIT, allow_empty=False),
        contact_name=_line(contact_name, "contact_name", NAME_LIMIT),
        contact_email=_email(contact_email),
        contact_phone=_phone(contact_phone),
        company=_line(company, "company", NAME_LIMIT),
        notes=clean_text(notes, field="notes", limit=NOTES_LIMIT, allow_empty=True),
        status=status.value,
        responsible_id=_active(session, actor.org_id, responsible_id, field="responsible_id").id,
        creator_id=actor.id,
    )
    lead.created_at = lead.updated_at = clock.now()
    session.add(lead)
    session.flush()
    return lead


def get_lead(session: Session, viewer: User, lead_id: uuid.UUID, *, for_update: bool = False) -> Lead:
    """A lead of the viewer's organization, or NotFound."""
    query = select(Lead).where(Lead.org_id == viewer.org_id, Lead.id == lead_id, Lead.hidden_by.is_(None))
    if for_update:
        query = query.with_for_update()
    lead = session.scalar(query)
    if lead is None:
        raise errors.NotFound("No such lead.")
    return lead


def list_leads(
    session: Session,
    viewer: User,
    *,
    status: LeadStatus | None = None,
    responsible_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Lead], int]:
    """The organization's leads, newest first, optionally by status and responsible person."""
    query = select(Lead).where(Lead.org_id == viewer.org_id, Lead.hidden_by.is_(None))
    if status is not None:
        query = query.where(Lead.status == status.value)
    if responsible_id is not None:
        query = query.where(Lead.responsible_id == responsible_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    leads = session.scalars(
        query.order_by(Lead.created_at.desc(), Lead.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return list(leads), total


def can_change_lead(viewer: User, lead: Lead) -> bool:
    """The creator, the responsible person and admins change a lead."""
    return viewer.is_admin or viewer.id in (lead.creator_id, lead.responsible_id)


def can_delete_lead(viewer: User, lead: Lead) -> bool:
    """The creator and admins delete a lead."""
    return viewer.is_admin or viewer.id == lead.creator_id


def require_can_change_lead(viewer: User, lead: Lead) -> None:
    """Forbidden unless the viewer may change the lead (what a change form checks before it shows)."""
    if not can_change_lead(viewer, lead):
        raise errors.Forbidden("Only the lead's creator, its responsible person or an admin may change it.")


def require_can_delete_lead(viewer: User, lead: Lead) -> None:
    """Forbidden unless the viewer may delete the lead."""
    if not can_delete_lead(viewer, lead):
        raise errors.Forbidden("Only the lead's creator or an admin may delete it.")


def update_lead(
    session: Session,
    lead: Lead,
    *,
    actor: User,
    title: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    company: str | None = None,
    notes: str | None = None,
    status: LeadStatus | None = None,
    responsible_id: uuid.UUID | None = None,
) -> Lead:
    """Change a lead (creator, responsible person or admin); a refused change writes nothing."""
    require_can_change_lead(actor, lead)
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = _line(title, "title", TITLE_LIMIT, allow_empty=False)
    if contact_name is not None:
        changes["contact_name"] = _line(contact_name, "contact_name", NAME_LIMIT)
    if contact_email is not None:
        changes["contact_email"] = _email(contact_email)
    if contact_phone is not None:
        changes["contact_phone"] = _phone(contact_phone)
    if company is not None:
        changes["company"] = _line(company, "company", NAME_LIMIT)
    if notes is not None:
        changes["notes"] = clean_text(notes, field="notes", limit=NOTES_LIMIT, allow_empty=True)
    if status is not None:
        changes["status"] = status.value
    if responsible_id is not None and responsible_id != lead.responsible_id:
        changes["responsible_id"] = _active(session, lead.org_id, responsible_id, field="responsible_id").id
    changed = False
    for name, value in changes.items():
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed = True
    if changed:
        lead.updated_at = clock.now()
    session.flush()
    return lead


def delete_lead(session: Session, lead: Lead, *, actor: User) -> TrashItem:
    """Move a lead to the trash (creator or admin); it can be restored until the organization's
    restore window ends."""
    require_can_delete_lead(actor, lead)
    item = move_to_trash(session, "lead", org_id=lead.org_id, object_id=lead.id, actor=actor)
    session.expunge(lead)
    return item
