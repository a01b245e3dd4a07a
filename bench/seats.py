"""Seats under concurrency: 8 processes invite at the boundary of a plan, through real connections.

Two organizations on the ``professional`` plan (100 seats): one of 800 people and one of 200,000
(times the scale, at least 800). In each, 49 people besides the admin are active and the rest are
dismissed (dismissed people hold no seat), and the counter says 50: 50 seats are left. Each round,
8 worker processes (each its own connection) call ``lifecycle.invitations.invite_user`` in their
own transactions as fast as they can, until the plan refuses them. Afterwards the rows are counted:
active people + pending invitations must be exactly 100 (no over-subscription, no lost seat), and
the counter must agree. Between rounds the round's invitations are removed and the counter reset
by SQL, so every round starts at the boundary again.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import Uuid

from bench.common import Databases, analyze, log, median, ratio, stopwatch, target
from bench.datagen import insert_users

WORKERS = 8
PLAN = "professional"
ACTIVE_AT_START = 50  # the admin + 49 people: the counter's value when a round starts
SMALL_ORG = 800
LARGE_ORG_AT_SCALE_1 = 200_000


def _worker(url: str, worker: int, tasks: Any, results: Any, barrier: Any) -> None:
    """Wait for a round, then invite until the plan refuses; report (admitted, refused, times)."""
    from roster.accounts.models import User
    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
    from roster.domain.errors import SeatLimitReached
    from roster.lifecycle.invitations import invite_user
    from roster.settings import Settings

    settings = Settings(secret_key="bench-secret-key-not-for-production", background_workers=False)  # type: ignore[call-arg]
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    while True:
        job = tasks.get()
        if job is None:
            break
        label, org_text, admin_text = job
        org, admin_id = uuid.UUID(org_text), uuid.UUID(admin_text)
        barrier.wait()
        admitted: list[float] = []
        refused = 0
        errors = 0
        i = 0
        while True:
            i += 1
            try:
                with transaction(factory) as session:
                    actor = session.get(User, (org, admin_id))
                    assert actor is not None
                    invite_user(
                        session,
                        org,
                        actor=actor,
                        email=f"{label}w{worker}n{i}@invited.test",
                        settings=settings,
                    )
                admitted.append(time.perf_counter())
            except SeatLimitReached:
                refused += 1
                break
            except Exception as exc:  # a lock timeout or a serialisation failure: count and go on
                errors += 1
                if errors > 50:
                    results.put({"worker": worker, "fatal": repr(exc)})
                    break
        results.put({"worker": worker, "admitted": admitted, "refused": refused, "errors": errors})
    engine.dispose()


def _setup_org(engine: Engine, slug: str, people: int) -> tuple[uuid.UUID, uuid.UUID]:
    from roster.accounts import service as accounts

    with Session(engine) as session:
        org, admin = accounts.create_organization(
            session,
            slug=slug,
            name=slug,
            plan=PLAN,
            admin_email=f"admin@{slug}.test",
            admin_password="Bench-password-1!",
        )
        session.commit()
        org_id, admin_id = org.id, admin.id
    insert_users(engine, org_id, people - 1, active=ACTIVE_AT_START - 1)
    return org_id, admin_id


def _reset(engine: Engine, org_id: uuid.UUID) -> None:
    """Back to the boundary: no pending invitations, the counter at 50."""
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM invitations WHERE org_id = :org").bindparams(bindparam("org", type_=Uuid())),
            {"org": org_id},
        )
        conn.execute(
            text("UPDATE organizations SET seats_used = :n WHERE id = :org").bindparams(
                bindparam("org", type_=Uuid())
            ),
            {"org": org_id, "n": ACTIVE_AT_START},
        )


def _count(engine: Engine, org_id: uuid.UUID) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM users WHERE org_id = :org AND status = 'active' "
                "AND is_system = :f), (SELECT count(*) FROM invitations WHERE org_id = :org "
                "AND status = 'pending'), (SELECT seats_used FROM organizations WHERE id = :org)"
            ).bindparams(bindparam("org", type_=Uuid())),
            {"org": org_id, "f": False},
        ).one()
    return {"active": int(row[0]), "pending": int(row[1]), "counter": int(row[2])}


def _round(
    engine: Engine, tasks: list[Any], results: Any, barrier: Any, label: str, org: tuple[uuid.UUID, uuid.UUID]
) -> dict[str, Any]:
    from roster.domain.plans import seat_limit

    limit = seat_limit(PLAN)
    assert limit is not None
    org_id, admin_id = org
    _reset(engine, org_id)
    for q in tasks:
        q.put((label, str(org_id), str(admin_id)))
    barrier.wait()
    start = time.perf_counter()
    reports = [results.get(timeout=600) for _ in range(WORKERS)]
    wall = time.perf_counter() - start
    times = sorted(t for x in reports for t in x.get("admitted", []))
    counted = _count(engine, org_id)
    seats = counted["active"] + counted["pending"]
    span = (times[-1] - start) if times else wall
    return {
        "admitted": len(times),
        "refused": sum(x.get("refused", 0) for x in reports),
        "errors": sum(x.get("errors", 0) for x in reports),
        "fatal": [x["fatal"] for x in reports if "fatal" in x],
        "seconds_to_fill": span,
        "wall_seconds": wall,
        "admissions_per_second": len(times) / span if span else None,
        "seats_counted": seats,
        "counter": counted["counter"],
        "limit": limit,
        "over_subscribed": max(0, seats - limit),
        "lost_seats": max(0, limit - seats),
        "counter_matches_rows": counted["counter"] == seats,
    }


def _run_rounds(
    url: str, engine: Engine, orgs: dict[str, tuple[uuid.UUID, uuid.UUID]], rounds: int
) -> dict[str, dict[str, Any]]:
    """Alternate rounds between the organizations (so load from elsewhere hits both alike)."""
    ctx = mp.get_context("spawn")
    tasks = [ctx.Queue() for _ in range(WORKERS)]
    results = ctx.Queue()
    barrier = ctx.Barrier(WORKERS + 1)
    procs = [ctx.Process(target=_worker, args=(url, w, tasks[w], results, barrier)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    per_round: dict[str, list[dict[str, Any]]] = {label: [] for label in orgs}
    try:
        for r in range(rounds + 1):  # round 0 warms the workers up and is not counted
            for label, org in orgs.items():
                outcome = _round(engine, tasks, results, barrier, f"r{r}{label}", org)
                if r:
                    per_round[label].append(outcome)
    finally:
        for q in tasks:
            q.put(None)
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    out: dict[str, dict[str, Any]] = {}
    for label, items in per_round.items():
        rates = [x["admissions_per_second"] for x in items if x["admissions_per_second"]]
        out[label] = {
            "rounds": items,
            "limit": items[0]["limit"] if items else None,
            "admitted_per_round": ACTIVE_AT_START,
            "over_subscriptions": sum(x["over_subscribed"] for x in items),
            "lost_seats": sum(x["lost_seats"] for x in items),
            "errors": sum(x["errors"] for x in items),
            "counter_always_matches": all(x["counter_matches_rows"] for x in items),
            "median_admissions_per_second": median(rates),
            "median_seconds_to_fill": median([x["seconds_to_fill"] for x in items]),
        }
    return out


def run(kind: str, scale: float, rounds: int) -> dict[str, Any]:
    """The seats benchmark on one database kind."""
    from roster.db.engine import make_engine

    dbs = Databases(kind)
    large = max(SMALL_ORG, round(LARGE_ORG_AT_SCALE_1 * scale))
    out: dict[str, Any] = {
        "database": kind,
        "scale": scale,
        "workers": WORKERS,
        "plan": PLAN,
        "rounds": rounds,
    }
    try:
        name = dbs.create_empty("seats")
        url = dbs.url(name)
        engine = make_engine(url)
        with stopwatch() as setup:
            small_org = _setup_org(engine, "seats-small", SMALL_ORG)
            large_org = _setup_org(engine, "seats-large", large)
            analyze(engine)
        log(f"{kind} seats: organizations of {SMALL_ORG:,} and {large:,} people in {setup():.1f}s")
        sizes = _run_rounds(url, engine, {"small": small_org, "large": large_org}, rounds)
        for label, people in (("small", SMALL_ORG), ("large", large)):
            result = sizes[label]
            result["people"] = people
            log(
                f"{kind} seats {label} ({people:,} people): {result['median_admissions_per_second']:.0f} "
                f"admissions/s, over-subscriptions {result['over_subscriptions']}, "
                f"lost {result['lost_seats']}"
            )
        engine.dispose()
        out["sizes"] = sizes
        small_rate = sizes["small"]["median_admissions_per_second"]
        large_rate = sizes["large"]["median_admissions_per_second"]
        slower = (
            max(small_rate, large_rate) / min(small_rate, large_rate) if small_rate and large_rate else None
        )
        out["targets"] = {
            "over_subscriptions": target(
                float(sizes["small"]["over_subscriptions"] + sizes["large"]["over_subscriptions"]), 0.0
            ),
            "size_ratio": target(slower, 1.5),
        }
        out["small_over_large"] = ratio(small_rate, large_rate)
    finally:
        dbs.drop_all()
    return out
