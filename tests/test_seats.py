"""Seats: a guarded counter that concurrent requests can never push over the plan's limit."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from roster.accounts.models import Organization
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.domain import errors
from roster.lifecycle.invitations import invite_user, revoke_invitation
from roster.lifecycle.models import Invitation
from roster.lifecycle.seats import get_seat_ledger, release_seat, take_seat
from roster.lifecycle.users import dismiss_user
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import auth, make_org, make_user
from tests.lifecycle_helpers import events

API = "/api/v1"


def test_a_new_organization_seats_its_first_admin_and_not_the_system_user(db: Session) -> None:
    o = make_org(db)
    ledger = get_seat_ledger(db, o.org.id)
    assert (ledger.plan, ledger.limit, ledger.used, ledger.active, ledger.available) == ("free", 12, 1, 1, 11)


def test_the_seats_endpoint_shows_the_ledger(db: Session, client: TestClient) -> None:
    o = make_org(db, plan="plus")
    invite_user(db, o.org.id, actor=o.admin, email="a@example.test")
    response = client.get(f"{API}/seats", headers=auth(db, o.admin))
    assert response.json() == {
        "plan": "plus",
        "limit": 24,
        "used": 2,
        "active": 1,
        "pending_invitations": 1,
        "available": 22,
    }
    assert client.get(f"{API}/seats", headers=auth(db, make_user(db, o.org))).status_code == 403


def test_take_seat_refuses_at_the_limit_with_the_ledger(db: Session) -> None:
    o = make_org(db)
    for _ in range(11):
        take_seat(db, o.org.id)
    try:
        take_seat(db, o.org.id)
    except errors.SeatLimitReached as exc:
        assert exc.extra["limit"] == 12 and exc.extra["used"] == 12 and exc.extra["plan"] == "free"
        assert "upgrade the plan" in exc.detail
    else:
        raise AssertionError("took a thirteenth seat")
    release_seat(db, o.org.id)
    take_seat(db, o.org.id)
    assert get_seat_ledger(db, o.org.id).used == 12


def test_the_enterprise_plan_is_unlimited(db: Session) -> None:
    o = make_org(db, plan="enterprise")
    for _ in range(200):
        take_seat(db, o.org.id)
    ledger = get_seat_ledger(db, o.org.id)
    assert ledger.limit is None and ledger.available is None and ledger.used == 201


def test_invite_refusal_at_the_limit_explains_how_to_free_a_seat(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    for i in range(11):
        assert (
            client.post(
                f"{API}/invitations", json={"email": f"s{i}@example.test"}, headers=headers
            ).status_code
            == 201
        )
    response = client.post(f"{API}/invitations", json={"email": "one-too-many@example.test"}, headers=headers)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "seat_limit_reached"
    assert {k: body[k] for k in ("plan", "limit", "used", "active", "pending_invitations")} == {
        "plan": "free",
        "limit": 12,
        "used": 12,
        "active": 1,
        "pending_invitations": 11,
    }
    assert "revoke a pending invitation" in body["detail"] and "dismiss or delete" in body["detail"]
    assert db.scalar(select(func.count()).select_from(Invitation).where(Invitation.org_id == o.org.id)) == 11


def test_dismissing_and_revoking_free_seats_for_new_invitations(db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    take_seat(db, o.org.id)  # erin's seat (make_user writes users directly)
    invitations = [invite_user(db, o.org.id, actor=o.admin, email=f"i{n}@example.test")[0] for n in range(10)]
    assert get_seat_ledger(db, o.org.id).available == 0
    dismiss_user(db, erin, actor=o.admin)
    invite_user(db, o.org.id, actor=o.admin, email="after-dismissal@example.test")
    revoke_invitation(db, invitations[0], actor=o.admin)
    invite_user(db, o.org.id, actor=o.admin, email="after-revoke@example.test")
    assert get_seat_ledger(db, o.org.id).used == 12


def test_changing_the_plan_records_old_and_new(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    response = client.put(f"{API}/organization/plan", json={"plan": "standard"}, headers=headers)
    assert response.status_code == 200 and response.json()["limit"] == 50
    [event] = events(db, o.org.id, "plan.changed")
    assert event.details == {"old": "free", "new": "standard", "old_limit": 12, "new_limit": 50}
    assert (
        client.put(f"{API}/organization/plan", json={"plan": "standard"}, headers=headers).status_code == 200
    )
    assert len(events(db, o.org.id, "plan.changed")) == 1  # unchanged: no event
    bad = client.put(f"{API}/organization/plan", json={"plan": "gold"}, headers=headers)
    assert bad.status_code == 422


def test_a_plan_smaller_than_the_seats_in_use_is_refused(db: Session, client: TestClient) -> None:
    o = make_org(db, plan="plus")
    for n in range(12):
        invite_user(db, o.org.id, actor=o.admin, email=f"p{n}@example.test")
    response = client.put(f"{API}/organization/plan", json={"plan": "free"}, headers=auth(db, o.admin))
    assert response.status_code == 409 and response.json()["code"] == "plan_too_small"
    assert response.json()["used"] == 13
    db.refresh(o.org)
    assert o.org.plan == "plus"
    assert events(db, o.org.id, "plan.changed") == []


def test_organization_settings_can_be_read_and_changed(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    assert client.get(f"{API}/organization/settings", headers=headers).json() == {
        "restore_window_days": 30,
        "employees_may_change_photo": True,
        "show_former_employee_names": True,
        "timezone": "UTC",
    }
    response = client.patch(
        f"{API}/organization/settings",
        json={
            "restore_window_days": 45,
            "show_former_employee_names": False,
            "employees_may_change_photo": True,
        },
        headers=headers,
    )
    assert response.status_code == 200 and response.json()["restore_window_days"] == 45
    [event] = events(db, o.org.id, "settings.changed")
    assert event.details == {
        "restore_window_days": {"old": 30, "new": 45},
        "show_former_employee_names": {"old": True, "new": False},
    }
    bad = client.patch(f"{API}/organization/settings", json={"restore_window_days": 0}, headers=headers)
    assert bad.status_code == 422
    assert len(events(db, o.org.id, "settings.changed")) == 1


def _concurrent_invites(
    url: str, org_id: uuid.UUID, admin_id: uuid.UUID, tmp_path: Path, n: int
) -> list[str]:
    settings = make_settings(tmp_path)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def attempt(i: int) -> None:
        # Each request: its own engine and connection. 24 connect at once to a server that may be
        # busy (CI runs this beside other work): a longer connect timeout than Roster's own
        # 5 s, so that a slow connection is not taken for a race lost.
        slow_server = {"connect_args": {"connect_timeout": 60}} if url.startswith("postgresql") else {}
        engine = make_engine(url, **slow_server)
        try:
            factory = make_sessionmaker(writer(engine))
            barrier.wait(timeout=30)
            try:
                with transaction(factory) as session:
                    from roster.accounts.models import User

                    admin = session.get(User, (org_id, admin_id))
                    assert admin is not None
                    invite_user(
                        session, org_id, actor=admin, email=f"rush{i}@example.test", settings=settings
                    )
                result = "created"
            except errors.SeatLimitReached:
                result = "seat_limit_reached"
            except Exception as exc:
                result = f"error: {type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_concurrent_invites_at_the_boundary_never_exceed_the_limit(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    with transaction(factory) as session:
        o = make_org(session)  # free: 12 seats, the admin holds one
        for n in range(8):
            invite_user(
                session,
                o.org.id,
                actor=o.admin,
                email=f"early{n}@example.test",
                settings=make_settings(tmp_path),
            )
        org_id, admin_id = o.org.id, o.admin.id
    outcomes = _concurrent_invites(url, org_id, admin_id, tmp_path, 24)
    assert sorted(set(outcomes)) == ["created", "seat_limit_reached"], outcomes
    assert outcomes.count("created") == 3
    with factory() as session:
        org = session.get(Organization, org_id)
        assert org is not None and org.seats_used == 12
        pending = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.org_id == org_id, Invitation.status == "pending")
        )
        assert pending == 11
        ledger = get_seat_ledger(session, org_id)
        assert ledger.used == ledger.active + ledger.pending_invitations == 12
    engine.dispose()


def test_random_sequences_of_actions_keep_the_seat_counter_exact(connection: Connection) -> None:
    """Random sequences of seat-changing actions: after every step the counter equals active users
    plus pending invitations, never exceeds the plan, and the audit chain verifies."""
    from datetime import timedelta

    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    from roster import clock
    from roster.accounts.models import User
    from roster.domain.plans import seat_limit
    from roster.lifecycle.audit import verify_chain
    from roster.lifecycle.invitations import accept_invitation, expire_invitations, resend_invitation
    from roster.lifecycle.users import change_plan, rehire_user

    app_settings = make_settings(Path("/tmp"))

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.reset()
            self.savepoint = connection.begin_nested()
            self.db = make_sessionmaker(connection)()
            self.o = make_org(self.db)
            self.tokens: dict[uuid.UUID, str] = {}
            self.n = 0

        def teardown(self) -> None:
            self.db.close()
            self.savepoint.rollback()
            clock.reset()

        def _try(self, action) -> None:  # type: ignore[no-untyped-def]
            try:
                with self.db.begin_nested():
                    action()
            except errors.RosterError:
                pass

        def _invitations(self, status: str) -> list[Invitation]:
            return list(
                self.db.scalars(
                    select(Invitation)
                    .where(Invitation.org_id == self.o.org.id, Invitation.status == status)
                    .order_by(Invitation.id)
                )
            )

        def _people(self, status: str) -> list[User]:
            return list(
                self.db.scalars(
                    select(User)
                    .where(User.org_id == self.o.org.id, User.status == status, User.is_system.is_(False))
                    .order_by(User.id)
                )
            )

        @rule()
        def invite(self) -> None:
            self.n += 1

            def act() -> None:
                inv, url = invite_user(
                    self.db,
                    self.o.org.id,
                    actor=self.o.admin,
                    email=f"m{self.n}@example.test",
                    settings=app_settings,
                )
                self.tokens[inv.id] = url.rsplit("/", 1)[1]

            self._try(act)

        @rule(i=st.integers(0, 50))
        def accept(self, i: int) -> None:
            pending = self._invitations("pending")
            if pending:
                inv = pending[i % len(pending)]
                self._try(
                    lambda: accept_invitation(
                        self.db, token=self.tokens[inv.id], password="long-enough-pass", settings=app_settings
                    )
                )

        @rule(i=st.integers(0, 50))
        def revoke(self, i: int) -> None:
            pending = self._invitations("pending")
            if pending:
                self._try(lambda: revoke_invitation(self.db, pending[i % len(pending)], actor=self.o.admin))

        @rule(i=st.integers(0, 50))
        def resend(self, i: int) -> None:
            candidates = self._invitations("pending") + self._invitations("expired")
            if candidates:
                inv = candidates[i % len(candidates)]

                def act() -> None:
                    _, url = resend_invitation(self.db, inv, actor=self.o.admin, settings=app_settings)
                    self.tokens[inv.id] = url.rsplit("/", 1)[1]

                self._try(act)

        @rule(days=st.integers(1, 8))
        def time_passes(self, days: int) -> None:
            clock.advance(timedelta(days=days))
            expire_invitations(self.db, self.o.org.id)

        @rule(i=st.integers(0, 50))
        def dismiss(self, i: int) -> None:
            active = self._people("active")
            self._try(lambda: dismiss_user(self.db, active[i % len(active)], actor=self.o.admin))

        @rule(i=st.integers(0, 50))
        def rehire(self, i: int) -> None:
            dismissed = self._people("dismissed")
            if dismissed:
                self._try(lambda: rehire_user(self.db, dismissed[i % len(dismissed)], actor=self.o.admin))

        @rule(plan=st.sampled_from(["free", "plus", "standard"]))
        def plan(self, plan: str) -> None:
            self._try(lambda: change_plan(self.db, self.o.org.id, actor=self.o.admin, plan=plan))

        @invariant()
        def counter_is_exact_and_within_the_plan(self) -> None:
            ledger = get_seat_ledger(self.db, self.o.org.id)
            pending = len(self._invitations("pending"))
            assert ledger.used == len(self._people("active")) + pending
            limit = seat_limit(ledger.plan)
            assert limit is None or ledger.used <= limit

        @invariant()
        def chain_verifies(self) -> None:
            assert verify_chain(self.db, self.o.org.id).ok

    Machine.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Machine.TestCase().runTest()
