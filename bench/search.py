"""Search benchmark: autocomplete latency at directory scale, on SQLite and PostgreSQL.

``python -m bench.search --scale 0.01`` (scale 1 = 1,000,000 users across 1,000 organizations,
10% of them dismissed). For each database it

1. builds a migrated database (a file under var/bench/, or a PostgreSQL database it creates on
   ROSTER_BENCH_PG_URL / the local server) and fills it set-based (executemany in chunks on SQLite,
   COPY on PostgreSQL);
2. times 1,000 random prefixes (1-letter, longer, accented, Cyrillic, Greek, CJK, email, misses):
   - ``service``: ``roster.directory.search.autocomplete`` in its own Session, as a request does;
   - ``bare``: the same statement executed by SQLAlchemy Core on a connection (no ORM, no folding);
   - ``bare_single``: one range scan on one partial index (first names), the floor;
   - ``http``: ``GET /api/v1/users/autocomplete`` against a real uvicorn on loopback, beside
     ``GET /healthz`` and ``GET /api/v1/me`` (sign-in only) as references;
3. prints the query plans (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) and writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, false, insert, literal_column, select, text
from sqlalchemy.engine import make_url

from bench.server import Client, serve

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results" / "search.json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "roster_bench_search"  # + a run id, so concurrent runs never share a database
USERS_AT_SCALE_1 = 1_000_000
ORGS_AT_SCALE_1 = 1_000
DISMISSED_SHARE = 0.10
LIMIT = 10

FIRST_NAMES = [
    "John",
    "Jöhn",
    "Johanna",
    "Anna",
    "Ängel",
    "Émile",
    "José",
    "Zoë",
    "Søren",
    "Łukasz",
    "Çağla",
    "Mary",
    "James",
    "Olivia",
    "Noah",
    "Liam",
    "Emma",
    "Sophia",
    "Mia",
    "Lucas",
    "Ava",
    "Oscar",
    "Özgür",
    "Ingrid",
    "Björn",
    "Amélie",
    "Chloé",
    "François",
    "Hélène",
    "Jürgen",
    "Renée",
    "Siobhán",
    "Дмитрий",
    "Анна",
    "Иван",
    "Ольга",
    "Сергей",
    "Наталья",
    "Σωκράτης",
    "Ελένη",
    "Γιώργος",
    "Μαρία",
    "Νίκος",
    "太郎",
    "花子",
    "陽菜",
    "伟",
    "芳",
    "민준",
    "서연",
    "Aarav",
    "Fatima",
    "Omar",
    "Leila",
    "Ngozi",
    "Kwame",
    "Mateo",
    "Valentina",
    "Thiago",
    "Camila",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Müller",
    "Østergaard",
    "García",
    "Nguyễn",
    "Öztürk",
    "Kowalski",
    "Brown",
    "Johnson",
    "Williams",
    "Dubois",
    "Lefèvre",
    "Schäfer",
    "Åberg",
    "Ní",
    "Bhriain",
    "Rossi",
    "Bianchi",
    "Silva",
    "Santos",
    "Kim",
    "Lee",
    "Andersson",
    "Johansson",
    "Novák",
    "Dvořák",
    "Иванов",
    "Петрова",
    "Смирнов",
    "Кузнецова",
    "Παππάς",
    "Οικονόμου",
    "Γεωργίου",
    "山田",
    "佐藤",
    "鈴木",
    "王",
    "李",
    "김",
    "박",
    "Patel",
    "Khan",
    "Okafor",
    "Mensah",
    "Hernández",
    "López",
    "Martín",
    "Jansen",
    "Visser",
    "Virtanen",
    "Nieminen",
]


def log(message: str) -> None:
    print(f"[search {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


def ascii_part(name: str, fallback: str) -> str:
    from roster.directory.keys import search_key

    folded = "".join(c for c in search_key(name) if c.isascii() and c.isalnum())
    return folded or fallback


# --- data ------------------------------------------------------------------------------------------


def _sql_value(value: Any, dialect: str) -> Any:
    if dialect != "sqlite":
        return value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _defaults(table: Any, given: set[str]) -> dict[str, Any]:
    """Python-side defaults of the columns the generator does not fill (other features' columns)."""
    from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

    out: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given:
            continue
        default = column.default
        if isinstance(default, ScalarElementColumnDefault):
            out[column.name] = default.arg
        elif isinstance(default, CallableColumnDefault):
            out[column.name] = default.arg(None)
        elif column.nullable or column.server_default is not None:
            continue
        else:
            raise RuntimeError(f"users.{column.name} needs a value the benchmark does not know")
    return out


def user_rows(org_ids: list[uuid.UUID], users: int, seed: int) -> Iterator[dict[str, Any]]:
    """Users spread evenly over the organizations; 10% dismissed; names from many scripts."""
    from roster.directory.keys import search_key

    rng = random.Random(seed)
    first_keys = {n: search_key(n) for n in FIRST_NAMES}
    last_keys = {n: search_key(n) for n in LAST_NAMES}
    first_ascii = {n: ascii_part(n, "u") for n in FIRST_NAMES}
    last_ascii = {n: ascii_part(n, "x") for n in LAST_NAMES}
    now = datetime.now(UTC)
    per_org = max(1, users // len(org_ids))
    n = 0
    for org_index, org_id in enumerate(org_ids):
        count = per_org if org_index < len(org_ids) - 1 else users - per_org * (len(org_ids) - 1)
        for _ in range(count):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            n += 1
            email = f"{first_ascii[first]}.{last_ascii[last]}.{n}@o{org_index}.test"
            dismissed = rng.random() < DISMISSED_SHARE
            yield {
                "org_id": org_id,
                "id": uuid.UUID(int=rng.getrandbits(128)),
                "email": email,
                "email_key": email,
                "first_name": first,
                "last_name": last,
                "display_name": f"{first} {last}",
                "position": "Engineer",
                "role": "employee",
                "status": "dismissed" if dismissed else "active",
                "is_system": False,
                "created_at": now,
                "updated_at": now,
                "dismissed_at": now if dismissed else None,
                "first_name_key": first_keys[first],
                "last_name_key": last_keys[last],
                "display_name_key": f"{first_keys[first]} {last_keys[last]}",
                "email_search_key": email,
            }


def fill(engine: Engine, orgs: int, users: int, seed: int = 7) -> list[uuid.UUID]:
    """Organizations (each with its System User) and users, written set-based."""
    from roster.accounts.models import Organization, User

    dialect = engine.dialect.name
    org_ids = [uuid.UUID(int=(i + 1) << 64) for i in range(orgs)]
    with engine.begin() as conn:
        conn.execute(
            insert(Organization.__table__),  # type: ignore[arg-type]
            [
                {"id": o, "slug": f"bench-{i}", "name": f"Bench {i}", "plan": "enterprise"}
                for i, o in enumerate(org_ids)
            ],
        )
    system_users = (
        {
            "org_id": o,
            "id": uuid.UUID(int=((i + 1) << 64) + 1),
            "email": None,
            "email_key": None,
            "first_name": "System",
            "last_name": "User",
            "display_name": "System User",
            "position": "",
            "role": "employee",
            "status": "active",
            "is_system": True,
            "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC),
            "dismissed_at": None,
            "first_name_key": "system",
            "last_name_key": "user",
            "display_name_key": "system user",
            "email_search_key": "",
        }
        for i, o in enumerate(org_ids)
    )
    table = User.__table__
    first = next(user_rows(org_ids[:1], 1, seed))
    defaults = _defaults(table, set(first))
    columns = list(first) + list(defaults)

    def rows() -> Iterator[tuple[Any, ...]]:
        for source in (system_users, user_rows(org_ids, users, seed)):
            for row in source:
                row.update(defaults)
                yield tuple(_sql_value(row[c], dialect) for c in columns)

    started = time.perf_counter()
    if dialect == "sqlite":
        path = make_url(engine.url).database
        assert path
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        sql = f"INSERT INTO users ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple[Any, ...]] = []
        with conn:
            for row in rows():
                batch.append(row)
                if len(batch) >= 50_000:
                    conn.executemany(sql, batch)
                    batch.clear()
            if batch:
                conn.executemany(sql, batch)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY users ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows():
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        with engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE users")
    log(f"  {users + orgs:,} users written in {time.perf_counter() - started:.1f} s")
    return org_ids


# --- queries ---------------------------------------------------------------------------------------


def prefixes(count: int, seed: int = 11) -> list[str]:
    """Random prefixes as people type them: short and long, accented, other scripts, emails, misses."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(count):
        kind = i % 10
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if kind in (0, 1):
            out.append(rng.choice((first, last))[:1])  # one letter (any script)
        elif kind in (2, 3, 4):
            out.append(first[: rng.randint(2, 4)])
        elif kind in (5, 6):
            out.append(last[: rng.randint(2, 5)].upper() if rng.random() < 0.3 else last[: rng.randint(2, 5)])
        elif kind == 7:
            out.append(f"{ascii_part(first, 'u')}.{ascii_part(last, 'x')[:2]}")  # an email
        elif kind == 8:
            out.append(first)  # a whole first name: exact matches rank first
        else:
            out.append(rng.choice(("zqx", "Ωψ", "ñño", "xyzzy")))  # nobody
    return out


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ms = sorted(s / 1e6 for s in samples_ns)

    def at(p: float) -> float:
        return ms[min(len(ms) - 1, round(p * (len(ms) - 1)))]

    return {
        "p50_ms": round(at(0.50), 3),
        "p90_ms": round(at(0.90), 3),
        "p99_ms": round(at(0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(ms[-1], 3),
        "n": len(ms),
    }


def timed(
    work: list[tuple[uuid.UUID, str]], call: Callable[[uuid.UUID, str], Any], warmup: int = 50
) -> list[int]:
    for org_id, q in work[:warmup]:
        call(org_id, q)
    samples = []
    for org_id, q in work:
        start = time.perf_counter_ns()
        call(org_id, q)
        samples.append(time.perf_counter_ns() - start)
    return samples


def timed_interleaved(
    work: list[tuple[uuid.UUID, str]], calls: dict[str, Callable[[uuid.UUID, str], Any]], warmup: int = 50
) -> dict[str, list[int]]:
    """Each prefix through every variant in turn (rotating who goes first), so noise from other
    processes on the machine falls on all of them alike."""
    names = list(calls)
    for org_id, q in work[:warmup]:
        for name in names:
            calls[name](org_id, q)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for i, (org_id, q) in enumerate(work):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter_ns()
            calls[name](org_id, q)
            samples[name].append(time.perf_counter_ns() - start)
    return samples


def repeated(
    work: list[tuple[uuid.UUID, str]], calls: dict[str, Callable[[uuid.UUID, str], Any]], reps: int
) -> dict[str, dict[str, Any]]:
    """``timed_interleaved`` ``reps`` times; per variant the median pass of each percentile (single
    passes move with whatever else the machine is doing), and every pass's p99."""
    passes = [
        {name: percentiles(values) for name, values in timed_interleaved(work, calls).items()}
        for _ in range(max(1, reps))
    ]
    out: dict[str, dict[str, Any]] = {}
    for name in calls:
        figures = [p[name] for p in passes]
        merged: dict[str, Any] = {k: statistics.median(f[k] for f in figures) for k in figures[0]}
        merged["n"] = sum(f["n"] for f in figures)
        merged["passes"] = len(figures)
        merged["p99_ms_of_each_pass"] = [f["p99_ms"] for f in figures]
        out[name] = merged
    return out


@lru_cache(maxsize=4)
def bare_single_statement() -> Any:
    """One range scan on one partial index: the floor any autocomplete query stands on."""
    from roster.accounts.models import User

    users = User.__table__
    key = users.c.first_name_key
    return (
        select(users.c.id)
        .where(
            users.c.org_id == bindparam("org_id"),
            users.c.status == literal_column("'active'"),
            users.c.is_system == false(),
            key >= bindparam("p"),
            key < bindparam("p_upper"),
        )
        .order_by(key)
        .limit(LIMIT)
    )


def plans(engine: Engine, org_id: uuid.UUID, prefix: str) -> dict[str, str]:
    """The query plans of the autocomplete statement and of the single-index floor."""
    from roster.directory.search import autocomplete_params, autocomplete_statement

    out: dict[str, str] = {}
    for name, statement in (
        ("autocomplete", autocomplete_statement(LIMIT).params(autocomplete_params(org_id, prefix))),
        ("bare_single", bare_single_statement().params(autocomplete_params(org_id, prefix))),
    ):
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = sql.replace(f"'{org_id}'", f"'{org_id.hex}'")
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
                plan = "\n".join(f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in rows)
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}").all()
                plan = "\n".join(r[0] for r in rows)
        out[name] = plan
    return out


# --- HTTP ------------------------------------------------------------------------------------------


def http_latencies(
    engine: Engine, url: str, org_ids: list[uuid.UUID], work: list[tuple[uuid.UUID, str]], reps: int
) -> dict[str, Any]:
    """The same prefixes through a real uvicorn on loopback, one keep-alive client."""
    from roster.accounts import service as accounts
    from roster.accounts.models import User
    from roster.db.engine import make_sessionmaker

    tokens: dict[uuid.UUID, str] = {}
    with make_sessionmaker(engine)() as session:
        for org_id in {o for o, _ in work}:
            user = session.scalars(
                select(User)
                .where(User.org_id == org_id, User.status == "active", User.is_system.is_(False))
                .limit(1)
            ).one()
            tokens[org_id] = accounts.issue_token(session, user, kind="bearer").secret
        session.commit()
    with serve(url, WORK_DIR / "http") as (base, _pid), Client(base) as client:

        def call(org_id: uuid.UUID, q: str) -> None:
            answer = client.get(
                "/api/v1/users/autocomplete",
                params={"q": q, "limit": LIMIT},
                headers={"Authorization": f"Bearer {tokens[org_id]}"},
            )
            if answer.status != 200:
                raise RuntimeError(f"HTTP {answer.status}: {answer.text[:200]}")

        def healthz(org_id: uuid.UUID, q: str) -> None:
            client.get("/healthz")

        def me(org_id: uuid.UUID, q: str) -> None:
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[org_id]}"})

        # Each token's first use is recorded (a write, at most once a minute per token); one
        # request per token first, so the timings are of searching, as in a session of typing.
        for token in tokens.values():
            if client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status != 200:
                raise RuntimeError("a benchmark token was refused")
        # References: the bare HTTP round trip, and a signed-in request that runs no query of
        # its own, so the autocomplete's own share of the time can be read off.
        figures = repeated(work, {"autocomplete": call, "healthz": healthz, "me": me}, reps)
        result = figures["autocomplete"]
        result["reference_healthz"] = figures["healthz"]
        result["reference_me"] = figures["me"]
        result["client"] = "one http.client keep-alive connection, sequential requests, loopback"
        return result


# --- one database ----------------------------------------------------------------------------------


def pg_server() -> str | None:
    url = os.environ.get("ROSTER_BENCH_PG_URL") or DEFAULT_PG
    try:
        engine = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as exc:
        log(f"PostgreSQL not reachable ({type(exc).__name__}); skipping it")
        return None


def prepare(kind: str, run_id: str) -> str | None:
    """A fresh, migrated database; its URL (None when PostgreSQL is not reachable)."""
    from roster.db.migrate import upgrade

    if kind == "sqlite":
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{WORK_DIR / f'search-{run_id}.db'}"
    else:
        server = pg_server()
        if server is None:
            return None
        name = f"{PG_DATABASE}_{run_id}"
        admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def discard(url: str) -> None:
    """Remove a benchmark database (they are large at scale 1)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def run_one(
    kind: str, scale: float, queries: int, http: bool, keep: bool = False, reps: int = 3
) -> dict[str, Any] | None:
    """Build, fill and measure one database (and drop it afterwards unless ``keep``)."""
    url = prepare(kind, f"{os.getpid()}_{random.randrange(16**6):06x}")
    if url is None:
        return None
    try:
        return _measure(kind, url, scale, queries, http, reps)
    finally:
        if not keep:
            discard(url)


def _measure(kind: str, url: str, scale: float, queries: int, http: bool, reps: int) -> dict[str, Any]:
    from roster.db.engine import make_engine, make_sessionmaker
    from roster.directory.keys import search_key
    from roster.directory.search import autocomplete, autocomplete_params, autocomplete_statement

    orgs = max(1, round(ORGS_AT_SCALE_1 * scale))
    users = max(orgs, round(USERS_AT_SCALE_1 * scale))
    log(f"{kind}: {users:,} users across {orgs:,} organizations")
    engine = make_engine(url)
    org_ids = fill(engine, orgs, users)
    rng = random.Random(5)
    work = [(rng.choice(org_ids), q) for q in prefixes(queries)]
    factory = make_sessionmaker(engine)

    def service(org_id: uuid.UUID, q: str) -> Any:
        with factory() as session:
            return autocomplete(session, org_id, q, LIMIT)

    def bare(org_id: uuid.UUID, q: str) -> Any:
        with engine.connect() as conn:
            return conn.execute(
                autocomplete_statement(LIMIT), autocomplete_params(org_id, search_key(q))
            ).all()

    def bare_single(org_id: uuid.UUID, q: str) -> Any:
        with engine.connect() as conn:
            return conn.execute(bare_single_statement(), autocomplete_params(org_id, search_key(q))).all()

    # Sanity: the service answers the same people as the bare statement, and never an inactive one.
    for org_id, q in work[:100]:
        got = service(org_id, q)
        assert all(u.status == "active" and not u.is_system for u in got)
        if search_key(q):
            assert [u.id for u in got] == [r.id for r in bare(org_id, q)]
    hits = sum(1 for org_id, q in work if service(org_id, q))
    result: dict[str, Any] = {
        "users": users,
        "organizations": orgs,
        "queries": len(work),
        "with_results": hits,
    }
    figures = repeated(work, {"service": service, "bare": bare, "bare_single": bare_single}, reps)
    for name, values in figures.items():
        result[name] = values
        log(f"  {name:<12} p50 {result[name]['p50_ms']:.3f} ms  p99 {result[name]['p99_ms']:.3f} ms")
    result["service_p99_over_bare_p99"] = round(result["service"]["p99_ms"] / result["bare"]["p99_ms"], 2)
    result["service_p99_over_bare_single_p99"] = round(
        result["service"]["p99_ms"] / result["bare_single"]["p99_ms"], 2
    )
    if http:
        result["http"] = http_latencies(engine, url, org_ids, work, reps)
        for label, figures in (
            ("http", result["http"]),
            ("http /healthz", result["http"]["reference_healthz"]),
            ("http /me", result["http"]["reference_me"]),
        ):
            log(f"  {label:<14} p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms")
    result["plans"] = plans(engine, org_ids[0], search_key("jo"))
    for name, plan in result["plans"].items():
        print(f"--- {kind} plan: {name}\n{plan}")
    engine.dispose()
    return result


def run(
    scale: float = 1.0,
    dbs: list[str] | None = None,
    queries: int = 1000,
    http: bool = True,
    keep: bool = False,
    reps: int = 3,
) -> dict[str, Any]:
    """Run the benchmark on each database and write bench/results/search.json."""
    payload: dict[str, Any] = {
        "benchmark": "search",
        "scale": scale,
        "limit": LIMIT,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": "service-level p99 within 2x of the bare SQLAlchemy query on the same index",
        "repetitions": f"{reps} passes over the same prefixes; each percentile is the median pass's",
        "load_average_at_start": list(os.getloadavg()),
        "cpus": os.cpu_count(),
    }
    for kind in dbs or ["sqlite", "postgresql"]:
        outcome = run_one(kind, scale, queries, http, keep, reps)
        if outcome is not None:
            outcome["target_met"] = outcome["service_p99_over_bare_p99"] <= 2.0
            payload[kind] = outcome
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    log(f"results in {RESULTS.relative_to(ROOT)}")
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1,000,000 users across 1,000 orgs")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn round trips")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument("--reps", type=int, default=3, help="passes over the prefixes (median)")
    args = parser.parse_args(argv)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    run(args.scale, dbs, args.queries, not args.no_http, args.keep, args.reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
