"""Seats: a guarded counter on ``organizations``, never a count of users per request.

``seats_used`` = active users (not the System User) + pending invitations. Taking a seat is one
conditional UPDATE, which both databases execute atomically (the row lock on PostgreSQL, the write
lock on SQLite), so concurrent requests can never push an organization over its plan's limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from roster.accounts.models import Organization
from roster.db.prepared import Prepared
from roster.directory.search import count_active_people
from roster.domain import errors
from roster.domain.plans import SEAT_LIMITS, seat_limit
from roster.lifecycle.models import IS_PENDING, Invitation

FREE_A_SEAT = "To free a seat, revoke a pending invitation, dismiss or delete someone, or upgrade the plan."


@dataclass(frozen=True)
class SeatLedger:
    plan: str
    limit: int | None
    used: int
    active: int
    pending_invitations: int
    available: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "limit": self.limit,
            "used": self.used,
            "active": self.active,
            "pending_invitations": self.pending_invitations,
            "available": self.available,
        }


def _limit_of_plan(plan_column: Any) -> ColumnElement[Any]:
    """The plan's limit computed in SQL, so a concurrent plan change is seen by the same UPDATE."""
    limited = {plan.value: limit for plan, limit in SEAT_LIMITS.items() if limit is not None}
    return case(limited, value=plan_column, else_=literal(None))


def _take_seat_statement() -> Any:
    organizations = cast(Table, Organization.__table__)
    limit = _limit_of_plan(organizations.c.plan)
    return (
        update(organizations)
        .where(
            organizations.c.id == bindparam("org_id"),
            limit.is_(None) | (organizations.c.seats_used < limit),
        )
        .values(seats_used=organizations.c.seats_used + 1)
    )


# Made once, on the table: every invitation and provisioning runs it.
_TAKE_SEAT = Prepared(_take_seat_statement())


def take_seat(session: Session, org_id: uuid.UUID) -> None:
    """Take one seat atomically; raises SeatLimitReached (with the ledger) when the plan is full."""
    if _TAKE_SEAT.execute(session, {"org_id": org_id}).rowcount == 1:
        _refresh_counter(session, org_id)
        return
    ledger = get_seat_ledger(session, org_id)
    raise errors.SeatLimitReached(
        f"All {ledger.limit} seats of the {ledger.plan} plan are in use ({ledger.active} active, "
        f"{ledger.pending_invitations} pending invitations). {FREE_A_SEAT}",
        **ledger.as_dict(),
    )


def release_seat(session: Session, org_id: uuid.UUID, count: int = 1) -> None:
    """Give seats back (dismissal, deletion, a revoked or expired invitation)."""
    if count <= 0:
        return
    session.execute(
        update(Organization)
        .where(Organization.id == org_id)
        # Never below zero: users written directly (fixtures, imports) never took a seat.
        .values(
            seats_used=case(
                (Organization.seats_used >= count, Organization.seats_used - count), else_=literal(0)
            )
        )
        .execution_options(synchronize_session=False)
    )
    _refresh_counter(session, org_id)


def _refresh_counter(session: Session, org_id: uuid.UUID) -> None:
    """An Organization loaded in this session must not keep the old count; one that is not loaded
    need not be read just to be expired."""
    org = session.identity_map.get(identity_key(Organization, (org_id,)))
    if org is not None:
        session.expire(org, ["seats_used"])


def get_seat_ledger(session: Session, org_id: uuid.UUID) -> SeatLedger:
    """The plan, its limit and how the seats are used (the counter, with its two parts)."""
    org = session.get(Organization, org_id)
    if org is None:
        raise errors.NotFound("No such organization.")
    session.refresh(org, ["seats_used", "plan"])
    active = count_active_people(session, org_id)
    pending = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.org_id == org_id, Invitation.status == IS_PENDING)
    )
    limit = seat_limit(org.plan)
    used = org.seats_used
    return SeatLedger(
        plan=org.plan,
        limit=limit,
        used=used,
        active=int(active or 0),
        pending_invitations=int(pending or 0),
        available=None if limit is None else max(limit - used, 0),
    )
