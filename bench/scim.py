"""SCIM throughput: Roster (uvicorn, SQLite) and scim2-server (the in-memory reference server from
PyPI) side by side on loopback, driven by the same client, with a bare server beside them
(``bench/scim_bare.py``: the same uvicorn, Roster's statements for each request, nothing else).

``python -m bench.scim --scale 0.01`` measures, for each server: creates per second (POST /Users),
``userName eq`` lookups per second (GET /Users?filter=...), and a 100-item page (GET /Users with
count=100; not the bare server), over one connection; then creates and lookups again over eight
connections at once, on fresh servers (Roster with one worker process, as ``roster serve`` runs by
default, and with a worker process per core; Roster and the peer only). Results go to ``bench/results/scim.json``; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.server import Client, free_port, serve, stop, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scim.json"
BIN = Path(sys.executable).parent
CONNECTIONS = 8
ONE_WORKER = "roster_one_worker"  # Roster with one worker process, under concurrent load
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass
class Server:
    name: str
    base_url: str
    token: str
    description: str
    pid: int
    pages: bool = True  # whether it serves a page of people (the bare server does not)


def bench_organization(database: Path) -> tuple[uuid.UUID, str]:
    """A fresh SQLite database at ``database``, migrated, with one organization on the unlimited
    plan; its id and a SCIM token for it."""
    from roster.accounts.service import create_organization
    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
    from roster.db.migrate import upgrade
    from roster.scim.tokens import create_scim_token

    database.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            org, admin = create_organization(
                session,
                slug="bench",
                name="Bench Ltd",
                plan="enterprise",
                admin_email="admin@bench.test",
                admin_password="Bench-pass-123!",
            )
            return org.id, create_scim_token(session, org.id, actor=admin, name="bench").secret
    finally:
        engine.dispose()


@contextmanager
def roster_server(workdir: Path, workers: int = 1, name: str = "roster") -> Iterator[Server]:
    """Roster on a fresh SQLite database (``bench_organization``), with its SCIM token; ``name``
    tells its results apart from another Roster server's in the same run."""
    database = workdir / "roster.db"
    _, token = bench_organization(database)
    url = f"sqlite:///{database}"
    with serve(url, workdir / "var", log=workdir / "roster.log", workers=workers) as (base, pid):
        wait_for_children(pid, workers if workers > 1 else 0)
        processes = f"{workers} worker processes" if workers > 1 else "1 worker"
        yield Server(name, base + "/scim/v2", token, f"Roster (uvicorn, {processes}, SQLite)", pid)


@contextmanager
def reference_server(workdir: Path) -> Iterator[Server]:
    """scim2-server, in memory, with a static bearer token."""
    token = secrets.token_hex(24)
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "scim2-server.log"
    executable = shutil.which("scim2-server", path=str(BIN)) or str(BIN / "scim2-server")
    command = [executable, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", token]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(
            base + "/ServiceProviderConfig", process, headers={"Authorization": f"Bearer {token}"}, log=log
        )
        yield Server(
            "scim2-server", base, token, "scim2-server (in-memory reference, threaded WSGI)", process.pid
        )
    finally:
        stop(process)


@contextmanager
def bare_server(workdir: Path) -> Iterator[Server]:
    """The bare server of ``bench/scim_bare.py``: HTTP and the database's statements, nothing else."""
    from bench.scim_bare import serve_bare

    with serve_bare(workdir) as (base, token, pid):
        yield Server(
            "bare",
            base,
            token,
            "bare ASGI server (uvicorn, 1 worker, SQLite): Roster's statements for the request, replayed",
            pid,
            pages=False,
        )


@contextmanager
def rules_server(workdir: Path) -> Iterator[Server]:
    """The bare server doing, besides, what Roster's rules require of a create, with Roster's own
    functions (``bench.scim_bare.RulesServer``): the most any implementation of Roster's create
    can reach on this HTTP server and database."""
    from bench.scim_bare import serve_bare

    with serve_bare(workdir, rules=True) as (base, token, pid):
        yield Server(
            "rules",
            base,
            token,
            "the bare server with Roster's rules for a create (token, body checks, search keys, "
            "audit hashes, the answer rendered), nothing else",
            pid,
            pages=False,
        )


def user_body(i: int, run: str) -> dict[str, Any]:
    """A SCIM User for person ``i`` of a run: the number is in every name and address."""
    name = f"user{i}.{run}@bench.test"
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "displayName": f"Given{i} Family{i}",
        "emails": [{"value": name, "type": "work"}],
        "active": True,
    }


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process and its live descendants (a server's worker
    processes), or None where /proc is not there."""
    fields = _stat(pid)
    if fields is None:
        return None
    seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        seconds += process_cpu_seconds(child) or 0.0
    return seconds


def timed_on(pid: int, work: Callable[[], Any]) -> tuple[float, float | None]:
    """Run ``work``; the wall seconds it took and the CPU seconds the server ``pid`` (with its
    workers) spent meanwhile (None where /proc is not there)."""
    cpu_before = process_cpu_seconds(pid)
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    cpu_after = process_cpu_seconds(pid)
    return seconds, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def connections_per_process(pid: int, port: int) -> list[int] | None:
    """How many established connections to ``port`` each process of a server holds (each worker
    process, or the server itself), most first; None where /proc is not there. With several
    workers, the kernel gives each new connection to whichever worker accepts it first."""
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    established, listening = set(), set()
    for row in rows:
        fields = row.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if int(local.rsplit(":", 1)[1], 16) == port:
            (established if state == "01" else listening if state == "0A" else set()).add(inode)
    # The worker processes are the children that listen on the port (not a supervisor's helpers).
    processes = [child for child in _children(pid) if _socket_inodes(child) & listening] or [pid]
    return sorted((len(_socket_inodes(p) & established) for p in processes), reverse=True)


def wait_for_children(pid: int, count: int, timeout: float = 60) -> None:
    """Wait until a server has started ``count`` worker processes and each answers."""
    deadline = time.monotonic() + timeout
    while len(_children(pid)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server {pid} did not start {count} workers")
        time.sleep(0.1)


@dataclass
class Tally:
    """Wall and server CPU time of one kind of request against one server."""

    requests: int = 0
    seconds: float = 0.0
    cpu_seconds: float | None = 0.0
    samples: list[float] = field(default_factory=list)

    def add(self, requests: int, seconds: float, cpu: float | None) -> None:
        self.requests += requests
        self.seconds += seconds
        self.cpu_seconds = None if cpu is None or self.cpu_seconds is None else self.cpu_seconds + cpu

    def cpu_ms_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return round(1000 * self.cpu_seconds / self.requests, 2)


class Side:
    """One server under test, with its own keep-alive client and tallies."""

    def __init__(self, server: Server, client: Client) -> None:
        self.server = server
        self.client = client
        self.run = secrets.token_hex(3)
        self.names: list[str] = []
        self.tallies = {kind: Tally() for kind in ("create", "lookup", "page")}

    def timed(self, kind: str, requests: list[Any], one: Any) -> None:
        seconds, cpu = timed_on(self.server.pid, lambda: [one(request) for request in requests])
        self.tallies[kind].add(len(requests), seconds, cpu)

    def create(self, i: int) -> None:
        self.create_named(i, self.run)

    def create_named(self, i: int, run: str) -> None:
        answer = self.client.post("/Users", json_body=user_body(i, run))
        if answer.status != 201:
            raise RuntimeError(f"{self.server.name}: create answered {answer.status}: {answer.text[:300]}")
        self.names.append(answer.json()["userName"])

    def lookup(self, name: str) -> None:
        answer = self.client.get("/Users", params={"filter": f'userName eq "{name}"'})
        found = answer.json().get("Resources", [])
        if answer.status != 200 or len(found) != 1:
            raise RuntimeError(f"{self.server.name}: lookup of {name} answered {answer.status}")

    def page(self, start_index: int) -> None:
        started = time.perf_counter()
        answer = self.client.get("/Users", params={"startIndex": start_index, "count": 100})
        self.tallies["page"].samples.append(time.perf_counter() - started)
        if answer.status != 200 or len(answer.json().get("Resources", [])) != 100:
            raise RuntimeError(f"{self.server.name}: the page answered {answer.status}")


def connected(server: Server) -> Client:
    """A keep-alive SCIM client of ``server``, its connection warmed up (its first-request costs
    fall outside the timings)."""
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/scim+json"}
    client = Client(server.base_url, headers)
    if client.get("/Users", params={"count": 1}).status != 200:
        client.close()
        raise RuntimeError(f"{server.name}: GET /Users failed")
    return client


def _interleaved(sides: list[Side], kind: str, items: list[Any], chunk: int) -> None:
    """The same requests against every server in turns of ``chunk``, the order of the turns
    alternating, so that both see the same machine (its load drifts over a run)."""
    for turn, begin in enumerate(range(0, len(items), chunk)):
        part = items[begin : begin + chunk]
        for side in sides if turn % 2 == 0 else reversed(sides):
            if kind == "page" and not side.server.pages:
                continue
            if kind == "lookup":
                wanted = [side.names[i] for i in part]
                side.timed(kind, wanted, side.lookup)
            else:
                side.timed(kind, part, getattr(side, kind))


def measure(
    servers: list[Server], *, creates: int, lookups: int, pages: int, chunk: int = 50
) -> dict[str, Any]:
    """Creates, lookups and pages against every server, interleaved, with the same client."""
    with ExitStack() as stack:
        sides = []
        for server in servers:
            sides.append(Side(server, stack.enter_context(connected(server))))
        _interleaved(sides, "create", list(range(creates)), chunk)
        rng = random.Random(7)
        _interleaved(sides, "lookup", [rng.randrange(creates) for _ in range(lookups)], chunk)
        starts = [1 + (p * 100) % max(1, creates - 99) for p in range(pages)]
        _interleaved(sides, "page", starts, max(1, chunk // 10))
    results = {}
    for side in sides:
        create, lookup, page = (side.tallies[k] for k in ("create", "lookup", "page"))
        if not side.server.pages:
            results[side.server.name] = _rates(side.server, create, lookup)
            continue
        times = sorted(page.samples)
        results[side.server.name] = {
            **_rates(side.server, create, lookup),
            "pages": pages,
            "page_of_100_ms_median": round(1000 * times[len(times) // 2], 2),
            "page_of_100_ms_p95": round(1000 * times[min(len(times) - 1, int(len(times) * 0.95))], 2),
            "page_server_cpu_ms": page.cpu_ms_per_request(),
        }
    return results


def _spread(work: list[Any], one_of: list[Any], pool: ThreadPoolExecutor) -> None:
    """``work`` split over the connections: ``one_of[i](item)`` on connection i, all at once."""
    lanes = len(one_of)
    futures = [pool.submit(lambda i=i: [one_of[i](item) for item in work[i::lanes]]) for i in range(lanes)]
    for future in futures:
        future.result()


def measure_concurrent(
    servers: list[Server], *, connections: int, creates: int, lookups: int, chunk: int = 400
) -> dict[str, Any]:
    """Creates, then lookups of what was created, over ``connections`` keep-alive connections
    at once per server; the servers take turns of ``chunk`` requests, the order alternating."""
    with ExitStack() as stack:
        sides: list[list[Side]] = []
        for server in servers:
            sides.append([Side(server, stack.enter_context(connected(server))) for _ in range(connections)])
        pool = stack.enter_context(ThreadPoolExecutor(connections))
        spread = {
            server.name: connections_per_process(server.pid, urlsplit(server.base_url).port or 80)
            for server in servers
        }
        tallies = {server.name: {kind: Tally() for kind in ("create", "lookup")} for server in servers}
        run = secrets.token_hex(3)
        rng = random.Random(11)
        for kind, total in (("create", creates), ("lookup", lookups)):
            for turn, begin in enumerate(range(0, total, chunk)):
                for lanes in sides if turn % 2 == 0 else reversed(sides):
                    server = lanes[0].server
                    if kind == "create":
                        work: list[Any] = list(range(begin, min(total, begin + chunk)))
                        one_of = [lambda i, side=side: side.create_named(i, run) for side in lanes]
                    else:
                        names = [name for side in lanes for name in side.names]
                        work = [rng.choice(names) for _ in range(min(chunk, total - begin))]
                        one_of = [side.lookup for side in lanes]
                    seconds, cpu = timed_on(server.pid, partial(_spread, work, one_of, pool))
                    tallies[server.name][kind].add(len(work), seconds, cpu)
    return {
        server.name: {
            **_rates(server, tallies[server.name]["create"], tallies[server.name]["lookup"]),
            "connections_per_process": spread[server.name],
        }
        for server in servers
    }


def _rates(server: Server, create: Tally, lookup: Tally) -> dict[str, Any]:
    """Creates and lookups per second, and the server's CPU per request, from their tallies."""
    return {
        "server": server.description,
        "creates": create.requests,
        "creates_per_second": round(create.requests / create.seconds, 1),
        "create_server_cpu_ms": create.cpu_ms_per_request(),
        "lookups": lookup.requests,
        "user_name_lookups_per_second": round(lookup.requests / lookup.seconds, 1),
        "lookup_server_cpu_ms": lookup.cpu_ms_per_request(),
    }


def _get_many(client: Client, path: str, headers: dict[str, str], requests: int) -> None:
    for _ in range(requests):
        client.get(path, headers=headers)


def roster_floor(server: Server, requests: int) -> dict[str, dict[str, float | None]]:
    """What Roster's server spends on requests that do less than a lookup, for reading the
    lookup's own cost: the bare HTTP round trip, a SCIM request refused before any database work
    (a malformed token), and an authenticated one that reads nothing else (the token checked and
    its use recorded, in a transaction: ServiceProviderConfig)."""
    base = server.base_url.removesuffix("/scim/v2")
    good = {"Authorization": f"Bearer {server.token}"}
    probes = {
        "healthz": ("/healthz", {}),
        "scim_refused_token": ("/scim/v2/Users", {"Authorization": "Bearer not-a-roster-token"}),
        "scim_authenticated_config": ("/scim/v2/ServiceProviderConfig", good),
    }
    floors: dict[str, dict[str, float | None]] = {}
    with Client(base) as client:
        for name, (path, headers) in probes.items():
            for _ in range(20):
                client.get(path, headers=headers)
            seconds, cpu = timed_on(server.pid, partial(_get_many, client, path, headers, requests))
            floors[name] = {
                "wall_ms": round(1000 * seconds / requests, 3),
                "server_cpu_ms": None if cpu is None else round(1000 * cpu / requests, 3),
            }
    return floors


def _org_of(token: str) -> uuid.UUID:
    from roster.accounts.security import split_secret

    org_id = split_secret(token)
    if org_id is None:
        raise RuntimeError("the benchmark's SCIM token names no organization")
    return org_id


def sizes(scale: float) -> dict[str, int]:
    """Request counts: scale 1 is 5,000 creates, 10,000 lookups and 200 pages."""
    return {
        "creates": max(150, int(5000 * scale)),
        "lookups": max(300, int(10000 * scale)),
        "pages": max(30, int(200 * scale)),
    }


def run(scale: float = 0.01) -> dict[str, Any]:
    """Measure both servers, write bench/results/scim.json and return what it holds."""
    counts = sizes(scale)
    with tempfile.TemporaryDirectory(prefix="roster-bench-scim-") as tmp:
        workdir = Path(tmp)
        with (
            roster_server(workdir) as roster,
            reference_server(workdir) as reference,
            bare_server(workdir / "bare") as bare,
            rules_server(workdir / "rules") as rules,
        ):
            results = measure([roster, reference, bare, rules], **counts)
            from bench.scim_bare import people_written

            for name in ("bare", "rules"):
                if people_written(workdir / name) != counts["creates"] + 1:  # and the captured one
                    raise RuntimeError(f"the {name} server did not write every person it answered for")
            results["roster"]["floor"] = roster_floor(roster, max(300, counts["lookups"] // 5))
            from bench import scim_floor  # it builds its requests with this module's helpers

            results["roster"]["database_share"] = scim_floor.measure(
                workdir / "roster.db",
                roster.token,
                _org_of(roster.token),
                workdir,
                creates=max(200, counts["creates"] // 5),
                lookups=max(300, counts["lookups"] // 5),
            )
        # The same creates and lookups over several connections at once, on fresh servers: Roster
        # with one worker process, as `roster serve` runs by default, and with a worker process
        # per core; scim2-server keeps its people in one process's memory, so one process (with a
        # thread per connection) is all it can run. The three take turns.
        workers = os.cpu_count() or 1
        with ExitStack() as servers:
            concurrent_servers = [
                servers.enter_context(roster_server(workdir / "concurrent-1", name=ONE_WORKER)),
                servers.enter_context(reference_server(workdir / "concurrent")),
            ]
            if workers > 1:
                concurrent_servers.append(
                    servers.enter_context(roster_server(workdir / "concurrent", workers=workers))
                )
            concurrent = measure_concurrent(
                concurrent_servers,
                connections=CONNECTIONS,
                creates=counts["creates"],
                lookups=counts["lookups"],
            )
    roster, reference = results["roster"], results["scim2-server"]
    payload = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": scale,
            "counts": counts,
            "client": "one http.client keep-alive connection per server, sequential requests, loopback",
            "interleaving": "the servers up at once; each kind of request in turns of 50 per server "
            "(pages: 5; the bare servers serve none), the order of the turns alternating",
            "nproc": os.cpu_count(),
        },
        "sqlite": results,
        "concurrent": {
            "connections": CONNECTIONS,
            "roster_workers": workers,
            "client": f"{CONNECTIONS} http.client keep-alive connections per server, one thread each, "
            "in the benchmark's process; turns of 400 requests per server, the order alternating",
            "sqlite": concurrent,
            # Roster / the peer, for each Roster server measured ("roster": a worker per core).
            **{
                f"ratios_{name}_over_reference": {
                    key: round(concurrent[name][key] / concurrent["scim2-server"][key], 2)
                    for key in ("creates_per_second", "user_name_lookups_per_second")
                }
                for name in ("roster", ONE_WORKER)
                if name in concurrent
            },
        },
        "ratios_roster_over_reference": {
            "creates_per_second": round(roster["creates_per_second"] / reference["creates_per_second"], 2),
            "user_name_lookups_per_second": round(
                roster["user_name_lookups_per_second"] / reference["user_name_lookups_per_second"], 2
            ),
            "page_of_100_ms_median": round(
                roster["page_of_100_ms_median"] / reference["page_of_100_ms_median"], 2
            ),
        },
        # The bare servers' rates against the peer's, and Roster's against theirs.
        "ratios_bare": {
            f"{key}_{mine}_over_{theirs}": round(results[mine][key] / results[theirs][key], 2)
            for key in ("creates_per_second", "user_name_lookups_per_second")
            for mine, theirs in (
                ("bare", "scim2-server"),
                ("roster", "bare"),
                ("rules", "scim2-server"),
                ("roster", "rules"),
                ("rules", "bare"),
            )
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(table(payload))
    return payload


def table(payload: dict[str, Any]) -> str:
    rows = [
        ("creates/s", "creates_per_second"),
        ("userName eq lookups/s", "user_name_lookups_per_second"),
        ("100-item page, median ms", "page_of_100_ms_median"),
        ("100-item page, p95 ms", "page_of_100_ms_p95"),
        ("server CPU ms per create", "create_server_cpu_ms"),
        ("server CPU ms per lookup", "lookup_server_cpu_ms"),
        ("server CPU ms per page", "page_server_cpu_ms"),
    ]
    servers = payload["sqlite"]
    bare, rules = servers.get("bare", {}), servers.get("rules", {})
    lines = [f"{'':28}{'Roster (SQLite)':>18}{'scim2-server':>16}{'bare':>10}{'rules':>10}", "-" * 82]
    for label, key in rows:
        lines.append(
            f"{label:28}{servers['roster'][key]:>18}{servers['scim2-server'][key]:>16}"
            f"{bare.get(key, ''):>10}{rules.get(key, ''):>10}"
        )
    concurrent = payload.get("concurrent")
    if concurrent:
        together = concurrent["sqlite"]
        per_core = together.get("roster", {})
        lines.append(f"{concurrent['connections']} connections at once:")
        per_core_label = f"{concurrent['roster_workers']} workers" if per_core else ""
        lines.append(f"{'':28}{'Roster, 1 worker':>18}{'scim2-server':>16}{per_core_label:>10}")
        for label, key in rows[:2] + rows[4:6]:
            lines.append(
                f"{label:28}{together[ONE_WORKER][key]:>18}{together['scim2-server'][key]:>16}"
                f"{per_core.get(key, ''):>10}"
            )
    counts = payload["meta"]["counts"]
    lines.append(
        f"({counts['creates']} creates, {counts['lookups']} lookups, {counts['pages']} pages; "
        f"results in {RESULTS.relative_to(ROOT)})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scim", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.01, help="1 = 5,000 creates and 10,000 lookups")
    args = parser.parse_args(argv)
    run(args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
