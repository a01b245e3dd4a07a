"""The demo organization that ``make run`` serves: realistic people and content in every module."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.accounts.security import hash_password
from roster.accounts.service import create_organization, get_organization_by_slug
from roster.crm import demo as crm_demo
from roster.directory.departments import add_department_members, create_department
from roster.drive import demo as drive_demo
from roster.lifecycle.audit import record_organization_created
from roster.lifecycle.deletion import delete_user
from roster.lifecycle.invitations import invite_user
from roster.lifecycle.users import dismiss_user, provision_user
from roster.messages import demo as messages_demo
from roster.settings import Settings
from roster.stream import demo as stream_demo
from roster.tasks import demo as tasks_demo

DEMO_SLUG = "demo"
DEMO_ADMIN_EMAIL = "admin@demo.test"

# First name, last name, position, and the mailbox their address starts with: the names keep
# their accents (search finds "Jöhn" by "jo"), the addresses are plain, as companies give them.
PEOPLE = [
    ("Jöhn", "Smith", "Head of Sales", "john.smith"),
    ("Anna", "Jones", "Account Executive", "anna.jones"),
    ("Øyvind", "Larsen", "Backend Engineer", "oyvind.larsen"),
    ("Chloé", "Martin", "Product Designer", "chloe.martin"),
    ("Ravi", "Patel", "Support Lead", "ravi.patel"),
    ("Mei", "Chen", "Finance Manager", "mei.chen"),
    ("Lukas", "Weber", "Recruiter", "lukas.weber"),
]

# Who reports to whom (by last name), as an identity provider's manager attribute would say.
MANAGERS = {"Jones": "Smith", "Patel": "Chen", "Weber": "Chen"}

# The departments and who is in them (by last name).
DEPARTMENTS = [
    ("Sales", ("Smith", "Jones")),
    ("Engineering", ("Larsen", "Martin")),
    ("Operations", ("Patel", "Chen", "Weber")),
]


def create_demo(session: Session, *, password: str, settings: Settings | None = None) -> bool:
    """Create the demo organization if it is missing; True when it was created. ``settings``
    name the server its invitation links point to (by default, the process's settings)."""
    if get_organization_by_slug(session, DEMO_SLUG) is not None:
        return False
    org, admin = create_organization(
        session,
        slug=DEMO_SLUG,
        name="Demo Company",
        plan="free",
        admin_email=DEMO_ADMIN_EMAIL,
        admin_password=password,
        admin_first_name="Ada",
        admin_last_name="Admin",
    )
    record_organization_created(session, org, admin)
    hashed = hash_password(password)
    # People join through the same actions as anywhere else, so the seat ledger and the audit log
    # tell the demo's story truthfully.
    for first, last, position, mailbox in PEOPLE:
        user = provision_user(
            session,
            org.id,
            actor=admin,
            email=f"{mailbox}@demo.test",
            first_name=first,
            last_name=last,
            position=position,
            via="demo",
        )
        user.password_hash = hashed
    session.flush()
    people = list(
        session.scalars(
            select(User)
            .where(User.org_id == org.id, User.is_system.is_(False))
            .order_by(User.created_at, User.id)
        )
    )
    by_last = {u.last_name: u for u in people}
    for report, manager in MANAGERS.items():
        by_last[report].manager_id = by_last[manager].id
    for name, members in DEPARTMENTS:
        department = create_department(session, org.id, actor=admin, name=name)
        add_department_members(session, department, [by_last[m].id for m in members], actor=admin)
    stream_demo.add_demo_content(session, org.id, people)
    messages_demo.add_demo_content(session, org.id, people)
    tasks_demo.add_demo_content(session, org.id, people)
    drive_demo.add_demo_content(session, org.id, people, settings)
    crm_demo.add_demo_content(session, org.id, people)
    # The admin console's other tabs: someone who left, someone invited, and a test account that
    # was created by mistake and deleted (restorable for the organization's window).
    leaver = next(u for u in people if u.last_name == "Larsen")
    dismiss_user(session, leaver, actor=admin, reason="Moved to another company")
    invite_user(
        session,
        org.id,
        actor=admin,
        email="new.hire@demo.test",
        first_name="Noor",
        last_name="Haddad",
        position="Data Analyst",
        settings=settings,
    )
    mistake = provision_user(
        session,
        org.id,
        actor=admin,
        email="test.account@demo.test",
        first_name="Test",
        last_name="Account",
        via="demo",
    )
    delete_user(session, mistake, actor=admin, confirm=mistake.email)
    return True
