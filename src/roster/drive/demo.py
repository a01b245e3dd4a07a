"""A few small files in the demo organization's drive (made here, no assets to ship)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.drive.models import DriveFile
from roster.drive.service import upload_file
from roster.drive.storage import get_storage
from roster.settings import Settings, get_settings


def _pick(users: list[User], first_name: str, fallback: int) -> User:
    for user in users:
        if user.first_name == first_name:
            return user
    return users[fallback % len(users)]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _files() -> list[tuple[str, str, str, bytes, int]]:
    """(owner's first name, file name, content type, bytes, days ago)."""
    pipeline = _csv(
        [
            ["company", "contact", "stage", "value_eur"],
            ["Northwind Traders", "Laura Callahan", "qualified", "54000"],
            ["Contoso GmbH", "Jonas Becker", "contacted", "18000"],
            ["Tailspin Toys", "Marco Rossi", "won", "32000"],
        ]
    )
    budget = _csv(
        [
            ["month", "payroll", "office", "software", "travel"],
            ["2026-09", "182000", "14500", "6100", "3900"],
            ["2026-10", "184500", "14500", "6350", "5200"],
            ["2026-11", "185000", "14500", "6400", "2100"],
        ]
    )
    handbook = (
        b"Welcome to Demo Company\n=======================\n\n"
        b"Working hours are flexible; core hours are 10:00-15:00.\n"
        b"Holidays: 28 days a year, booked in the HR tool two weeks ahead.\n"
        b"Expenses: submit receipts within 30 days; finance pays on the 15th.\n"
    )
    checklist = (
        b"Onboarding checklist\n\n"
        b"[ ] Laptop and accounts ready on day one\n[ ] Buddy assigned\n"
        b"[ ] Intro meeting with the team lead\n[ ] First week's tasks in the task list\n"
    )
    runbook = (
        b"# Billing migration runbook\n\n1. Freeze invoice edits.\n2. Export the last 24 months.\n"
        b"3. Reconcile totals with finance.\n4. Switch the webhooks.\n5. Watch the error rate for an hour.\n"
    )
    return [
        ("Ada", "Employee handbook.txt", "text/plain", handbook, 45),
        ("Jöhn", "Sales pipeline Q4.csv", "text/csv", pipeline, 9),
        ("Mei", "Budget 2026 – operating costs.csv", "text/csv", budget, 20),
        ("Chloé", "Onboarding checklist.txt", "text/plain", checklist, 3),
        ("Øyvind", "billing-migration-runbook.md", "text/markdown", runbook, 6),
    ]


def add_demo_content(
    session: Session, org_id: uuid.UUID, users: list[User], settings: Settings | None = None
) -> None:
    """Handbooks, spreadsheets and notes, owned by the people they belong to."""
    people = [u for u in users if u.org_id == org_id and u.is_active]
    if not people:
        return
    settings = settings or get_settings()
    storage = get_storage(settings, org_id)
    now = clock.now()
    for i, (owner, name, content_type, content, age) in enumerate(_files()):
        file = upload_file(
            session,
            actor=_pick(people, owner, i),
            name=name,
            content_type=content_type,
            stream=io.BytesIO(content),
            storage=storage,
            max_bytes=settings.max_upload_bytes,
        )
        session.execute(
            update(DriveFile)
            .where(DriveFile.org_id == org_id, DriveFile.id == file.id)
            .values(created_at=now - timedelta(days=age))
        )
    session.flush()
