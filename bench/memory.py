"""Memory: the peak RSS of a real uvicorn server process serving the 1,000,000-user directory.

The data: 1,000,000 people (times the scale) across 1,000 organizations, every tenth dismissed,
and stream posts in the organization the requests sign in to. A real ``uvicorn roster.asgi:app``
process serves a request mix (autocomplete with random prefixes, directory list pages with and
without a query, the stream) from a few client threads over loopback; its ``VmHWM`` in
``/proc/<pid>/status`` is the peak resident set.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from bench.common import WORK_DIR, Databases, analyze, log, median, stopwatch
from bench.datagen import FIRST_NAMES, LAST_NAMES, insert_organizations, insert_people, insert_rows
from bench.server import Client, serve

USERS_AT_SCALE_1 = 1_000_000
ORGANIZATIONS = 1_000
POSTS = 2_000
REQUESTS = 3_000
CLIENT_THREADS = 4


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def build(dbs: Databases, scale: float) -> tuple[str, dict[str, Any]]:
    """The directory data set; returns the database name and what a client needs."""
    from roster.accounts import service as accounts
    from roster.db.engine import make_engine

    total = max(ORGANIZATIONS * 10, round(USERS_AT_SCALE_1 * scale))
    per_org = total // ORGANIZATIONS
    name = dbs.create_empty("memory")
    engine = make_engine(dbs.url(name))
    with stopwatch() as elapsed:
        with Session(engine) as session:
            org, admin = accounts.create_organization(
                session,
                slug="memory",
                name="Memory Ltd",
                plan="enterprise",
                admin_email="admin@memory.test",
                admin_password="Bench-password-1!",
                admin_first_name="Ada",
                admin_last_name="Admin",
            )
            session.commit()
            token = accounts.issue_token(session, admin, kind="bearer").secret
            session.commit()
            org_id = org.id
        insert_people(engine, per_org=per_org, org_id=org_id)
        insert_organizations(engine, ORGANIZATIONS - 1)
        insert_people(engine, per_org=per_org, org_count=ORGANIZATIONS - 1)
        insert_rows(engine, "stream_posts", POSTS, org_id=org_id, users=per_org)
        analyze(engine)
    engine.dispose()
    log(
        f"{dbs.kind} memory: {per_org * ORGANIZATIONS:,} people in {ORGANIZATIONS} organizations in {elapsed():.1f}s"
    )
    return name, {"token": token, "people": per_org * ORGANIZATIONS, "per_org": per_org}


def _prefixes(rng: random.Random) -> list[str]:
    names = [*FIRST_NAMES, *LAST_NAMES]
    out = []
    for _ in range(200):
        word = rng.choice(names)
        out.append(word[: rng.randint(1, min(4, len(word)))].lower())
    return out


def run(kind: str, scale: float, requests: int = REQUESTS) -> dict[str, Any]:
    """Start a server on the data set, send the request mix, read its peak RSS."""
    dbs = Databases(kind)
    out: dict[str, Any] = {"database": kind, "scale": scale}
    stack = ExitStack()
    try:
        name, info = build(dbs, scale)
        out["people"] = info["people"]
        out["organizations"] = ORGANIZATIONS
        base, pid = stack.enter_context(serve(dbs.url(name), WORK_DIR / f"memory-{dbs.run_id}"))
        headers = {"Authorization": f"Bearer {info['token']}"}
        # One request first: it records the token's first use (a write), before the clients start.
        with Client(base, headers) as first:
            first.get("/api/v1/users/autocomplete?q=a")
        idle_kb = _status_kb(pid, "VmRSS")
        rng = random.Random(8)
        prefixes = _prefixes(rng)
        mix: list[str] = []
        for i in range(requests):
            choice = i % 10
            if choice < 5:
                mix.append(f"/api/v1/users/autocomplete?q={quote(rng.choice(prefixes))}&limit=10")
            elif choice < 7:
                mix.append(f"/api/v1/users?page={rng.randint(1, 20)}&per_page=50")
            elif choice < 8:
                mix.append(f"/api/v1/users?q={quote(rng.choice(prefixes))}&per_page=200")
            else:
                mix.append(f"/api/v1/stream?page={rng.randint(1, 10)}&per_page=50")
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        lock = threading.Lock()

        def client(part: list[str]) -> None:
            with Client(base, headers) as c:
                for path in part:
                    start = time.perf_counter()
                    code = c.get(path).status
                    took = time.perf_counter() - start
                    with lock:
                        statuses[f"{path.split('?')[0]} {code}"] += 1
                        latencies.append(took)

        with stopwatch() as elapsed:
            threads = [
                threading.Thread(target=client, args=(mix[i::CLIENT_THREADS],)) for i in range(CLIENT_THREADS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        peak_kb = _status_kb(pid, "VmHWM")
        latencies.sort()
        out.update(
            {
                "requests": requests,
                "client_threads": CLIENT_THREADS,
                "seconds": elapsed(),
                "requests_per_second": requests / elapsed(),
                "idle_rss_mib": idle_kb / 1024,
                "peak_rss_mib": peak_kb / 1024,
                "final_rss_mib": _status_kb(pid, "VmRSS") / 1024,
                "latency_p50_ms": median(latencies) * 1000,
                "latency_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else None,
                "statuses": dict(statuses),
                "database_bytes": dbs.size_bytes(name),
            }
        )
        log(
            f"{kind} memory: peak RSS {out['peak_rss_mib']:.0f} MiB (idle {out['idle_rss_mib']:.0f} MiB), "
            f"{out['requests_per_second']:.0f} req/s, statuses {dict(statuses)}"
        )
    finally:
        stack.close()
        shutil.rmtree(WORK_DIR / f"memory-{dbs.run_id}", ignore_errors=True)
        dbs.drop_all()
    return out
