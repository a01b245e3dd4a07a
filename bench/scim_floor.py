"""What a SCIM request's database work costs by itself, for reading the SCIM rates against.

A create and a ``userName eq`` lookup are run once through Roster's own service code against the
benchmark's database, with every statement they send captured (``before_cursor_execute``). The
captured statements are then replayed through the standard library's ``sqlite3`` module, with
no SQLAlchemy, no HTTP and no rendering, on a copy of the same database with Roster's connection
settings (WAL, ``synchronous=NORMAL``, foreign keys on), each request in its own transaction:
``BEGIN IMMEDIATE`` ... ``COMMIT`` for a create, ``BEGIN`` ... ``COMMIT`` for a lookup, as the
server does. That is the database's share of a request: no implementation that keeps Roster's
data and rules (the seat counter, the address checks, the person with their search keys, the
hash-chained audit event) can answer a request in less.

Replaying a create many times needs new values where the database requires them: every id the
create generated gets a new UUID per replay, the person's number in their name and address
changes, and the audit event takes the sequence number its own ``UPDATE ... RETURNING`` hands
out, as the real code does. Everything else is sent as captured.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scim import user_body

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Captured:
    """One request's statements, in order, with the values they were sent with."""

    statements: list[tuple[str, tuple[Any, ...]]]
    begin: str  # "BEGIN IMMEDIATE" for a write, "BEGIN" for a read
    marker: str  # the number in the captured person's name and address; each replay puts its own
    answer: str = ""  # the body Roster's service code rendered for the request, as JSON


def capture(url: str, token: str) -> dict[str, Captured]:
    """A create and a lookup of the person it created, through the service code the server runs,
    with the statements each sent."""
    from sqlalchemy import event

    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
    from roster.scim import service, tokens

    engine = make_engine(url)
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, tuple(parameters)))

    answers: list[str] = []

    def request(
        factory: Any, work: Callable[[service.ScimContext], Any]
    ) -> list[tuple[str, tuple[Any, ...]]]:
        sent.clear()
        with transaction(factory) as session:
            token_row = tokens.resolve_scim_token(session, token)
            assert token_row is not None, "the benchmark's SCIM token is not valid"
            tokens.touch_scim_token(session, token_row)
            ctx = service.ScimContext(
                session=session, org_id=token_row.org_id, token=token_row, base_url="http://bench/scim/v2"
            )
            answers.append(json.dumps(work(ctx), ensure_ascii=False, separators=(",", ":")))
        return list(sent)

    marker = f"70{secrets.randbelow(10**8):08d}"  # digits: user_body writes it into every name
    try:
        event.listen(engine, "before_cursor_execute", record)
        body = user_body(int(marker), "floor")
        create = request(
            make_sessionmaker(writer(engine)),
            lambda ctx: service.render_new_user(ctx, service.create_user(ctx, body)),
        )
        query = service.read_list_query({"filter": f'userName eq "{body["userName"]}"'})
        lookup = request(make_sessionmaker(engine), lambda ctx: service.list_users(ctx, query))
    finally:
        engine.dispose()
    # A token's use is recorded at most once a minute, so a steady stream of requests does not
    # write it: the capture leaves that statement (and its savepoint) out if it ran.
    return {
        "create": Captured(_steady(create), "BEGIN IMMEDIATE", marker, answers[0]),
        "lookup": Captured(_steady(lookup), "BEGIN", marker, answers[1]),
    }


def _steady(statements: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (sql, params)
        for sql, params in statements
        if "scim_tokens SET last_used_at" not in sql and "SAVEPOINT" not in sql.upper()
    ]


def _connect(path: Path) -> sqlite3.Connection:
    """A connection with Roster's settings (see ``roster.db.engine.make_engine``)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


class Replayer:
    """Sends a captured request's statements again, with the values a new request would have."""

    def __init__(self, captured: Captured, org_hex: str) -> None:
        self.captured = captured
        self.org_hex = org_hex
        self.count = 0
        # Which of each statement's values are ids the request made and which name its person,
        # found once here rather than by matching every value of every replay.
        self._plans = {
            tuple(params): [
                (i, "id" if _HEX_ID.match(value) and value != org_hex else "text")
                for i, value in enumerate(params)
                if isinstance(value, str)
                and ((_HEX_ID.match(value) and value != org_hex) or captured.marker in value)
            ]
            for _sql, params in captured.statements
        }

    def _values(
        self, params: tuple[Any, ...], ids: dict[str, str], rename: Callable[[str], str]
    ) -> list[Any]:
        values = list(params)
        for i, kind in self._plans[tuple(params)]:
            value = params[i]
            # an id this request made gets a new one; a text naming the person, the new person
            values[i] = ids.setdefault(value, uuid.uuid4().hex) if kind == "id" else rename(value)
        return values

    def once(self, connection: sqlite3.Connection, rename: Callable[[str], str] | None = None) -> list[int]:
        """Replay the request in one transaction; the number of rows each statement answered.
        ``rename`` gives a captured text its new request's value (by default, the captured
        person's number becomes a new one for each replay)."""
        self.count += 1
        answered = []
        ids: dict[str, str] = {}
        if rename is None:
            number = f"{self.captured.marker}r{self.count}"
            marker = self.captured.marker

            def rename(value: str) -> str:
                return value.replace(marker, number)

        seq: int | None = None
        connection.execute(self.captured.begin)
        for sql, params in self.captured.statements:
            values = self._values(params, ids, rename)
            if sql.startswith("INSERT INTO audit_events") and seq is not None:
                values[2] = seq  # (org_id, id, seq, ...): the number the UPDATE just handed out
            rows = connection.execute(sql, values).fetchall()
            answered.append(len(rows))
            if "RETURNING audit_seq" in sql:
                seq = int(rows[0][0])
        connection.execute("COMMIT")
        return answered


def replay_ms(
    path: Path, captured: Captured, org_hex: str, requests: int, chunks: int = 5
) -> tuple[float, int]:
    """Median over ``chunks`` runs of the milliseconds per request, replaying ``requests`` requests
    (after a few unmeasured ones to warm the page cache and the statement cache); and how many
    were replayed in all."""
    replayer = Replayer(captured, org_hex)
    per_chunk = max(1, requests // chunks)
    timings = []
    with closing(_connect(path)) as connection:
        for _ in range(20):
            replayer.once(connection)
        for _ in range(chunks):
            started = time.perf_counter()
            for _ in range(per_chunk):
                replayer.once(connection)
            timings.append(1000 * (time.perf_counter() - started) / per_chunk)
    return round(statistics.median(timings), 3), replayer.count


def _check(path: Path, marker: str, created: int) -> None:
    """The replayed creates made their people and audit events (the captured one, and one each)."""
    with closing(_connect(path)) as connection:
        people = connection.execute("SELECT count(*) FROM users WHERE email LIKE ?", (f"user{marker}%",))
        events = connection.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'user.provisioned' AND details LIKE ?",
            (f"%user{marker}%",),
        )
        found = (people.fetchone()[0], events.fetchone()[0])
    if found != (1 + created, 1 + created):
        raise RuntimeError(f"the replayed creates left {found} people and events, not {1 + created}")


def measure(
    database: Path, token: str, org_id: uuid.UUID, workdir: Path, *, creates: int, lookups: int
) -> dict[str, Any]:
    """The database's share of a create and of a lookup, in milliseconds, on a copy of ``database``."""
    captured = capture(f"sqlite:///{database}", token)
    copy = workdir / "floor.db"
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    try:
        create_ms, created = replay_ms(copy, captured["create"], org_id.hex, creates)
        lookup_ms, _ = replay_ms(copy, captured["lookup"], org_id.hex, lookups)
        _check(copy, captured["create"].marker, created)
        return {
            "create_ms": create_ms,
            "lookup_ms": lookup_ms,
            "create_statements": len(captured["create"].statements),
            "lookup_statements": len(captured["lookup"].statements),
            "how": "the statements Roster's service code sent for one create and one lookup, replayed "
            "through Python's sqlite3 module on a copy of the same database, one transaction each",
        }
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
