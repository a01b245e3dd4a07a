"""Realistic CRM leads for the demo organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.crm.models import Lead, LeadStatus
from roster.crm.service import create_lead
from roster.settings import Settings


def _pick(users: list[User], first_name: str, fallback: int) -> User:
    for user in users:
        if user.first_name == first_name:
            return user
    return users[fallback % len(users)]


LEADS = [
    # (title, contact, email, phone, company, status, responsible, creator, notes, days ago)
    (
        "Northwind: renewal for 120 seats",
        "Laura Callahan",
        "laura.callahan@northwind.example",
        "+1 206 555 0199",
        "Northwind Traders",
        LeadStatus.QUALIFIED,
        "Anna",
        "Jöhn",
        "Wants SSO and a three-year price lock.",
        12,
    ),
    (
        "Contoso pilot in the Berlin office",
        "Jonas Becker",
        "j.becker@contoso.example",
        "+49 30 1234 5678",
        "Contoso GmbH",
        LeadStatus.CONTACTED,
        "Anna",
        "Anna",
        "Demo booked for next Tuesday.",
        5,
    ),
    (
        "Fabrikam: intranet for 40 people",
        "Priya Nair",
        "priya@fabrikam.example",
        "",
        "Fabrikam Inc.",
        LeadStatus.NEW,
        "Jöhn",
        "Ravi",
        "Came in through a support chat.",
        1,
    ),
    (
        "Tailspin Toys expansion",
        "Marco Rossi",
        "marco.rossi@tailspin.example",
        "+39 02 5555 0101",
        "Tailspin Toys",
        LeadStatus.WON,
        "Jöhn",
        "Jöhn",
        "Signed for the Standard plan.",
        40,
    ),
    (
        "Adventure Works: switch from spreadsheets",
        "Sofia Lindqvist",
        "sofia@adventure-works.example",
        "+46 8 555 123 45",
        "Adventure Works",
        LeadStatus.LOST,
        "Anna",
        "Jöhn",
        "Chose to wait until next budget year.",
        60,
    ),
    (
        "Wingtip: HR onboarding module",
        "Kenji Watanabe",
        "kenji@wingtip.example",
        "",
        "Wingtip Toys",
        LeadStatus.CONTACTED,
        "Lukas",
        "Lukas",
        "Referred by Tailspin.",
        7,
    ),
]


def add_demo_content(
    session: Session, org_id: uuid.UUID, users: list[User], settings: Settings | None = None
) -> None:
    """A small sales pipeline with a lead in every status."""
    people = [u for u in users if u.org_id == org_id and u.is_active]
    if not people:
        return
    now = clock.now()
    for i, (title, contact, email, phone, company, status, owner, creator, notes, age) in enumerate(LEADS):
        lead = create_lead(
            session,
            actor=_pick(people, creator, i),
            title=title,
            responsible_id=_pick(people, owner, i + 1).id,
            contact_name=contact,
            contact_email=email,
            contact_phone=phone,
            company=company,
            notes=notes,
            status=status,
        )
        at = now - timedelta(days=age)
        session.execute(
            update(Lead).where(Lead.org_id == org_id, Lead.id == lead.id).values(created_at=at, updated_at=at)
        )
    session.flush()
