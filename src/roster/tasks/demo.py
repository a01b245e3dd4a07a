"""Realistic tasks for the demo organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.settings import Settings
from roster.tasks.models import Task, TaskStatus
from roster.tasks.service import create_task, update_task


def _pick(users: list[User], first_name: str, fallback: int) -> User:
    for user in users:
        if user.first_name == first_name:
            return user
    return users[fallback % len(users)]


def add_demo_content(
    session: Session, org_id: uuid.UUID, users: list[User], settings: Settings | None = None
) -> None:
    """Tasks in every status and role: deadlines past and coming, participants and observers."""
    people = [u for u in users if u.org_id == org_id and u.is_active]
    if len(people) < 2:
        return
    names = ("Ada", "Jöhn", "Anna", "Øyvind", "Chloé", "Ravi", "Mei", "Lukas")
    ada, john, anna, oyvind, chloe, ravi, mei, lukas = (_pick(people, n, i) for i, n in enumerate(names))
    now = clock.now()
    day = timedelta(days=1)

    plan = [
        # (creator, title, responsible, participants, observers, deadline in days, status, description, age)
        (
            john,
            "Prepare the Northwind renewal proposal",
            anna,
            [john],
            [ada],
            5,
            TaskStatus.IN_PROGRESS,
            "Pricing for 120 seats, the SSO add-on, and a three-year option.",
            6,
        ),
        (
            ada,
            "Migrate invoices to the new billing provider",
            oyvind,
            [mei],
            [john],
            12,
            TaskStatus.IN_PROGRESS,
            "Export the last 24 months, reconcile totals with finance, then switch the webhooks.",
            10,
        ),
        (
            chloe,
            "Redesign the onboarding checklist",
            chloe,
            [lukas],
            [ada],
            20,
            TaskStatus.OPEN,
            "New hires asked for fewer steps on day one. Draft in Figma first.",
            3,
        ),
        (
            ravi,
            "Answer the backlog of billing tickets",
            ravi,
            [anna],
            [],
            2,
            TaskStatus.OPEN,
            "Twelve tickets older than three days; most are VAT questions.",
            1,
        ),
        (
            mei,
            "Close the books for October",
            mei,
            [ada],
            [john],
            -3,
            TaskStatus.DONE,
            "Accruals booked, bank reconciled, report sent to the board.",
            30,
        ),
        (
            lukas,
            "Schedule interviews for the backend position",
            lukas,
            [oyvind],
            [ada],
            7,
            TaskStatus.OPEN,
            "Four candidates passed the screening; two slots each with Øyvind.",
            2,
        ),
        (
            ada,
            "Renew the office lease",
            ada,
            [mei],
            [],
            -1,
            TaskStatus.OPEN,
            "The landlord wants an answer by the end of the month.",
            14,
        ),
        (
            anna,
            "Send the Q4 pipeline review to the team",
            john,
            [anna],
            [ravi, mei],
            None,
            TaskStatus.DONE,
            "",
            8,
        ),
    ]
    for creator, title, responsible, participants, observers, due, status, description, age in plan:
        task = create_task(
            session,
            actor=creator,
            title=title,
            responsible_id=responsible.id,
            participant_ids=[p.id for p in participants if p.id != responsible.id],
            observer_ids=[o.id for o in observers if o.id != responsible.id],
            deadline=(now + due * day).replace(hour=17, minute=0, second=0, microsecond=0) if due else None,
            description=description,
        )
        if status is not TaskStatus.OPEN:
            update_task(session, task, actor=creator, status=status)
        created = now - age * day
        session.execute(
            update(Task)
            .where(Task.org_id == org_id, Task.id == task.id)
            .values(created_at=created, updated_at=max(created, now - day))
        )
    session.flush()
