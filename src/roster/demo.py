"""The demo organization that ``make run`` serves: realistic people and content in every module."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.accounts.security import hash_password
from roster.accounts.service import (
    compose_display_name,
    create_organization,
    email_key,
    get_organization_by_slug,
)
from roster.crm import demo as crm_demo
from roster.drive import demo as drive_demo
from roster.messages import demo as messages_demo
from roster.stream import demo as stream_demo
from roster.tasks import demo as tasks_demo

DEMO_SLUG = "demo"
DEMO_ADMIN_EMAIL = "admin@demo.test"

PEOPLE = [
    ("Jöhn", "Smith", "Head of Sales"),
    ("Anna", "Jones", "Account Executive"),
    ("Øyvind", "Larsen", "Backend Engineer"),
    ("Chloé", "Martin", "Product Designer"),
    ("Ravi", "Patel", "Support Lead"),
    ("Mei", "Chen", "Finance Manager"),
    ("Lukas", "Weber", "Recruiter"),
]


def create_demo(session: Session, *, password: str) -> bool:
    """Create the demo organization if it is missing; True when it was created."""
    if get_organization_by_slug(session, DEMO_SLUG) is not None:
        return False
    org, _admin = create_organization(
        session,
        slug=DEMO_SLUG,
        name="Demo Company",
        plan="free",
        admin_email=DEMO_ADMIN_EMAIL,
        admin_password=password,
        admin_first_name="Ada",
        admin_last_name="Admin",
    )
    hashed = hash_password(password)
    for first, last, position in PEOPLE:
        email = f"{first.lower()}.{last.lower()}@demo.test"
        session.add(
            User(
                org_id=org.id,
                email=email,
                email_key=email_key(email),
                first_name=first,
                last_name=last,
                display_name=compose_display_name(first, last),
                position=position,
                password_hash=hashed,
            )
        )
    session.flush()
    people = list(session.scalars(select(User).where(User.org_id == org.id, User.is_system.is_(False))))
    stream_demo.add_demo_content(session, org.id, people)
    messages_demo.add_demo_content(session, org.id, people)
    tasks_demo.add_demo_content(session, org.id, people)
    drive_demo.add_demo_content(session, org.id, people)
    crm_demo.add_demo_content(session, org.id, people)
    return True
