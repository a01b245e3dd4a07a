"""SIGKILL a real server in the middle of large lifecycle actions, restart it, and check that
nothing was half done: references moved completely with their map rows or not at all, the seat
counter agrees with the rows, the audit chain verifies, and no invitation mail is lost or doubled.

Each trial kills the server at a random moment while it works (some kills land before the
transaction commits, some after); the invariants hold either way. ``ROSTER_CRASH_TRIALS`` sets the
trials per action (20 by default); the outcomes are written to test-artifacts/crash-safety.json.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.datagen import USERS_PREFIX, DeleteDataset, generate, generated_id
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from roster.accounts.models import Organization, User
from roster.db.base import Base
from roster.db.engine import make_engine
from roster.lifecycle.audit import verify_chain
from roster.lifecycle.deletion_models import Authorship, LifecycleOperation
from roster.lifecycle.models import Invitation
from roster.mail.models import OutboxMessage
from roster.references import content_references
from tests.dbutil import DatabaseFactory
from tests.liveserver import LiveServer

TRIALS = int(os.environ.get("ROSTER_CRASH_TRIALS", "20"))
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@bench.test", "Bench-password-1!"
ARTIFACTS = Path("test-artifacts")


@dataclass
class World:
    engine: Engine
    dataset: DeleteDataset
    server: LiveServer
    token: str = ""
    original: dict[str, int] = field(default_factory=dict)  # per content kind, refs of the heavy user
    table_rows: dict[str, int] = field(default_factory=dict)
    generated_invitations: Counter[str] = field(default_factory=Counter)  # made without mail

    def restart(self) -> None:
        self.server.kill()
        self.server.start()
        self.token = login(self.server)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def login(server: LiveServer) -> str:
    answer = httpx.post(
        server.url + "/api/v1/auth/login",
        json={"organization": "bench", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def heavy_refs(session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, visible: bool) -> dict[str, int]:
    counts = {}
    for ref in content_references():
        table = Base.metadata.tables[ref.table]
        conditions = [table.c.org_id == org_id, table.c[ref.column] == user_id]
        if visible and ref.hide_column:
            conditions.append(table.c[ref.hide_column].is_(None))
        counts[ref.kind] = int(
            session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0
        )
    return counts


def table_rows(session: Session) -> dict[str, int]:
    names = sorted({ref.table for ref in content_references()})
    return {
        name: int(session.scalar(select(func.count()).select_from(Base.metadata.tables[name])) or 0)
        for name in names
    }


def check_invariants(world: World) -> str:
    """Assert every invariant; return the heavy user's status."""
    ds = world.dataset
    with Session(world.engine) as session:
        heavy = session.get(User, (ds.org_id, ds.heavy_id))
        assert heavy is not None
        # Nothing lost or duplicated: deletion with these dispositions moves or hides, never removes.
        # (Invitations grow with the bulk trials; the mail check below accounts for them.)
        rows = {k: v for k, v in table_rows(session).items() if k != "invitations"}
        assert rows == {k: v for k, v in world.table_rows.items() if k != "invitations"}
        open_ops = session.scalars(
            select(LifecycleOperation).where(
                LifecycleOperation.org_id == ds.org_id,
                LifecycleOperation.user_id == ds.heavy_id,
                LifecycleOperation.kind.in_(["delete", "merge"]),
                LifecycleOperation.restored_at.is_(None),
            )
        ).all()
        visible = heavy_refs(session, ds.org_id, ds.heavy_id, visible=True)
        every = heavy_refs(session, ds.org_id, ds.heavy_id, visible=False)
        if heavy.status == "deleted":
            assert len(open_ops) == 1, "a deleted user has exactly one open operation"
            op = open_ops[0]
            assert sum(visible.values()) == 0, f"references left behind: {visible}"
            for ref in content_references():
                mapped = int(
                    session.scalar(
                        select(func.count())
                        .select_from(Authorship)
                        .where(
                            Authorship.org_id == ds.org_id,
                            Authorship.operation_id == op.id,
                            Authorship.kind == ref.kind,
                            Authorship.restored_at.is_(None),
                        )
                    )
                    or 0
                )
                # Moved rows have a map row each; rows hidden instead (clashes) still name the user.
                assert mapped + every[ref.kind] == world.original[ref.kind], (
                    ref.kind,
                    mapped,
                    every[ref.kind],
                )
                table = Base.metadata.tables[ref.table]
                stray = session.scalar(
                    select(func.count())
                    .select_from(Authorship)
                    .join(table, (table.c.org_id == Authorship.org_id) & (table.c.id == Authorship.object_id))
                    .where(
                        Authorship.operation_id == op.id,
                        Authorship.kind == ref.kind,
                        table.c[ref.column] != Authorship.moved_to_id,
                    )
                )
                assert stray == 0, f"{ref.kind}: map rows whose object did not move"
        else:
            assert open_ops == [], "only a deleted user has an open operation"
            assert visible == world.original, "a user who is not deleted has all their references"
        # The seat counter agrees with the rows.
        org = session.get(Organization, ds.org_id)
        assert org is not None
        active = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == ds.org_id, User.status == "active", User.is_system.is_(False))
        )
        pending = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.org_id == ds.org_id, Invitation.status == "pending")
        )
        assert org.seats_used == active + pending, (org.seats_used, active, pending)
        # Every pending invitation has exactly one invitation mail; no mail without its invitation.
        mails = Counter(
            session.scalars(
                select(OutboxMessage.to_address).where(
                    OutboxMessage.org_id == ds.org_id, OutboxMessage.purpose == "invitation"
                )
            ).all()
        )
        invited = Counter(
            session.scalars(select(Invitation.email).where(Invitation.org_id == ds.org_id)).all()
        )
        assert mails == invited - world.generated_invitations, "invitation mail lost or doubled"
        # The audit chain verifies.
        result = verify_chain(session, ds.org_id)
        assert result.ok, result.problems
        return heavy.status


def fire_and_kill(world: World, method: str, path: str, body: dict[str, Any], delay: float) -> int | None:
    """Send the request, SIGKILL the server after ``delay`` seconds; the answer if one came."""
    outcome: dict[str, int] = {}

    def send() -> None:
        try:
            answer = httpx.request(
                method, world.server.url + path, json=body, headers=world.headers, timeout=120
            )
            outcome["status"] = answer.status_code
        except httpx.HTTPError:
            pass

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(delay)
    world.server.kill()
    sender.join(timeout=30)
    return outcome.get("status")


@pytest.fixture(scope="module")
def world(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = databases.new_database()
    engine = make_engine(url)
    dataset = generate(engine, total_rows=40_000, heavy_refs=12_000, users=300)
    with engine.begin() as conn:  # generated invitations are history, not seats held
        conn.execute(text("UPDATE invitations SET status = 'accepted'"))
    with Session(engine) as session:
        original = heavy_refs(session, dataset.org_id, dataset.heavy_id, visible=True)
        rows = table_rows(session)
        generated = Counter(session.scalars(select(Invitation.email)).all())
    server = LiveServer(url, tmp_path_factory.mktemp("crash-var")).start()
    w = World(
        engine=engine,
        dataset=dataset,
        server=server,
        original=original,
        table_rows=rows,
        generated_invitations=generated,
    )
    w.token = login(server)
    yield w
    server.stop()
    engine.dispose()


def timed(world: World, method: str, path: str, body: dict[str, Any]) -> float:
    """How long the action takes when left alone (it is then undone for the trials)."""
    started = time.perf_counter()
    answer = httpx.request(method, world.server.url + path, json=body, headers=world.headers, timeout=120)
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def record(name: str, outcomes: Counter[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "crash-safety.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[f"{name}:{os.environ.get('ROSTER_TEST_DATABASE_URL', 'sqlite').split(':')[0]}"] = dict(outcomes)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def test_delete_and_restore_survive_sigkill_at_any_moment(world: World) -> None:
    ds = world.dataset
    assert check_invariants(world) == "active"
    path = f"/api/v1/users/{ds.heavy_id}"
    delete_seconds = timed(world, "POST", path + "/delete", {"confirm": ds.heavy_email})
    assert check_invariants(world) == "deleted"
    restore_seconds = timed(world, "POST", path + "/restore", {})
    assert check_invariants(world) == "dismissed"
    rng = random.Random(20261128)
    outcomes: Counter[str] = Counter()
    kills: Counter[str] = Counter()
    while kills["delete"] < TRIALS or kills["restore"] < TRIALS:  # TRIALS kills of each
        status = check_invariants(world)
        if status == "deleted":
            action, body, seconds = "restore", {}, restore_seconds
        else:
            action, body, seconds = "delete", {"confirm": ds.heavy_email}, delete_seconds
        if kills[action] >= TRIALS:  # this action has had its kills: do it unharmed, kill the other
            timed(world, "POST", f"{path}/{action}", body)
            continue
        kills[action] += 1
        fire_and_kill(world, "POST", f"{path}/{action}", body, rng.uniform(0.0, seconds * 2.0))
        world.restart()
        after = check_invariants(world)
        committed = (after == "deleted") == (action == "delete")
        outcomes[f"{action}:{'committed' if committed else 'rolled back'}"] += 1
    record("delete-restore", outcomes)
    assert sum(outcomes.values()) == TRIALS * 2


def test_merge_survives_sigkill_at_any_moment(world: World) -> None:
    ds = world.dataset
    into = generated_id(USERS_PREFIX, 1)
    path = f"/api/v1/users/{ds.heavy_id}"
    if check_invariants(world) == "deleted":
        timed(world, "POST", path + "/restore", {})
    body = {"into_id": str(into), "confirm": ds.heavy_email}
    merge_seconds = timed(world, "POST", path + "/merge", body)
    assert check_invariants(world) == "deleted"
    timed(world, "POST", path + "/restore", {})
    rng = random.Random(7)
    outcomes: Counter[str] = Counter()
    for _ in range(TRIALS):
        assert check_invariants(world) != "deleted"
        fire_and_kill(world, "POST", path + "/merge", body, rng.uniform(0.0, merge_seconds * 2.0))
        world.restart()
        if check_invariants(world) == "deleted":
            outcomes["committed"] += 1
            timed(world, "POST", path + "/restore", {})
        else:
            outcomes["rolled back"] += 1
    record("merge", outcomes)
    assert sum(outcomes.values()) == TRIALS


def test_bulk_invitations_survive_sigkill_without_losing_or_doubling_mail(world: World) -> None:
    ds = world.dataset
    with world.engine.begin() as conn:  # room for every invitation the trials may create
        conn.execute(text("UPDATE organizations SET plan = 'enterprise' WHERE slug = 'bench'"))
    batch = [f"crash{n}@bench.test" for n in range(60)]
    probe = timed(world, "POST", "/api/v1/invitations/bulk", {"emails": batch})
    rng = random.Random(11)
    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS):
        emails = [f"t{trial}-{n}@bench.test" for n in range(60)]
        status = fire_and_kill(
            world, "POST", "/api/v1/invitations/bulk", {"emails": emails}, rng.uniform(0.0, probe * 2.0)
        )
        world.restart()
        check_invariants(world)
        with Session(world.engine) as session:
            created = session.scalar(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.org_id == ds.org_id, Invitation.email.like(f"t{trial}-%"))
            )
        assert created in (0, 60), f"a bulk invitation was half done: {created} of 60"
        outcomes["committed" if created else "rolled back"] += 1
        if status == 200:
            assert created == 60, "an answered success must have been stored"
    record("bulk-invite", outcomes)
    assert sum(outcomes.values()) == TRIALS


def test_bulk_delete_survives_sigkill_all_or_none(world: World) -> None:
    """Six people deleted in one request, the heavy user among them: after a kill at any moment
    either all six are deleted, each with their own restorable operation, or none is."""
    ds = world.dataset
    path = f"/api/v1/users/{ds.heavy_id}"
    if check_invariants(world) == "deleted":
        timed(world, "POST", path + "/restore", {})
    people = [ds.heavy_id, *(generated_id(USERS_PREFIX, n) for n in range(100, 105))]
    body = {"user_ids": [str(p) for p in people], "confirm": str(len(people))}

    def statuses() -> set[str]:
        with Session(world.engine) as session:
            return set(
                session.scalars(select(User.status).where(User.org_id == ds.org_id, User.id.in_(people)))
            )

    def restore_all() -> None:
        for person in people:
            timed(world, "POST", f"/api/v1/users/{person}/restore", {})

    seconds = timed(world, "POST", "/api/v1/users/bulk/delete", body)
    assert check_invariants(world) == "deleted" and statuses() == {"deleted"}
    restore_all()
    rng = random.Random(13)
    outcomes: Counter[str] = Counter()
    for _ in range(TRIALS):
        assert check_invariants(world) != "deleted" and "deleted" not in statuses()
        status = fire_and_kill(
            world, "POST", "/api/v1/users/bulk/delete", body, rng.uniform(0.0, seconds * 2.0)
        )
        world.restart()
        after = check_invariants(world)
        found = statuses()
        assert found == {"deleted"} or "deleted" not in found, f"a bulk deletion was half done: {found}"
        if after == "deleted":
            outcomes["committed"] += 1
            restore_all()
        else:
            assert status != 200, "an answered success must have been stored"
            outcomes["rolled back"] += 1
    record("bulk-delete", outcomes)
    assert sum(outcomes.values()) == TRIALS
