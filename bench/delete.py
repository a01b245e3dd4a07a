"""Delete with reassignment: Roster's ``delete_user`` against the raw SQL doing the same work.

Every timed run gets a fresh copy of the generated data (a file copy on SQLite, ``CREATE DATABASE
... TEMPLATE`` on PostgreSQL). Compared, in one repetition each, interleaved so background load
hits all of them alike:

- ``roster``: ``roster.lifecycle.deletion.delete_user`` with the default disposition (everything to
  the System User, authorship map included), one transaction, then ``restore_user`` on the result;
- ``raw``: hand-written SQL in one transaction: the operation row, one ``INSERT ... SELECT`` into the
  authorship map and one ``UPDATE`` per registered content column, credentials, the user row;
- ``gitlab``: the same moves 50 rows at a time, a transaction per batch (GitLab's background
  migration of a deleted user's records);
- ``orm``: load each object, set the attribute, add a map object, flush (capped, extrapolated).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import Uuid

from bench.common import Databases, analyze, log, median, ratio, stopwatch, target
from bench.datagen import USERS_PREFIX, DeleteDataset, generate, generated_id, users_for

ROWS_AT_SCALE_1 = 1_000_000
HEAVY_AT_SCALE_1 = 200_000
BIG_HEAVY_AT_SCALE_1 = 2_000_000
GITLAB_BATCH = 50
ORM_CAP = 20_000  # rows the ORM loop really moves; beyond that its time is extrapolated
NOW_OFFSET = timedelta(days=30)

MAP_COLUMNS = (
    "org_id, operation_id, kind, object_id, original_user_id, original_display_name, moved_to_id, moved_at"
)


def _engine(url: str) -> Engine:
    from roster.db.engine import make_engine, writer

    engine = writer(make_engine(url))
    assert isinstance(engine, Engine)
    return engine


def _content_refs() -> list[Any]:
    from roster.references import content_references

    return content_references()


def _credential_refs() -> list[Any]:
    from roster.references import Handling, all_references

    return [r for r in all_references() if r.handling is Handling.CREDENTIAL]


def _uuid_params(*names: str) -> list[Any]:
    return [bindparam(n, type_=Uuid()) for n in names]


def _ts_params(*names: str) -> list[Any]:
    from roster.db.base import UTCDateTime

    return [bindparam(n, type_=UTCDateTime()) for n in names]


# --- Roster ----------------------------------------------------------------------------------------


def roster_delete(engine: Engine, ds: DeleteDataset) -> tuple[float, int]:
    """Roster's own action, through the real service function, in one transaction."""
    from roster.accounts.models import User
    from roster.lifecycle.deletion import delete_user

    with stopwatch() as elapsed, Session(engine, expire_on_commit=False) as session:
        user = session.get(User, (ds.org_id, ds.heavy_id))
        actor = session.get(User, (ds.org_id, ds.admin_id))
        assert user is not None and actor is not None
        result = delete_user(session, user, actor=actor, confirm=ds.heavy_email)
        session.commit()
    return elapsed(), sum(result.moved.values())


def roster_restore(engine: Engine, ds: DeleteDataset) -> tuple[float, int]:
    from roster.accounts.models import User
    from roster.lifecycle.deletion import restore_user

    with stopwatch() as elapsed, Session(engine, expire_on_commit=False) as session:
        user = session.get(User, (ds.org_id, ds.heavy_id))
        actor = session.get(User, (ds.org_id, ds.admin_id))
        assert user is not None and actor is not None
        result = restore_user(session, user, actor=actor)
        session.commit()
    return elapsed(), sum(result.restored.values())


# --- Raw SQL ---------------------------------------------------------------------------------------


def _start_operation(conn: Any, ds: DeleteDataset, op_id: uuid.UUID, now: Any) -> None:
    conn.execute(
        text(
            "INSERT INTO lifecycle_operations (org_id, id, kind, user_id, actor_id, dispositions, "
            "created_at, restorable_until) VALUES (:org, :op, 'delete', :old, :actor, '{}', :now, :until)"
        ).bindparams(*_uuid_params("org", "op", "old", "actor"), *_ts_params("now", "until")),
        {
            "org": ds.org_id,
            "op": op_id,
            "old": ds.heavy_id,
            "actor": ds.admin_id,
            "now": now,
            "until": now + NOW_OFFSET,
        },
    )


def _finish_user(conn: Any, ds: DeleteDataset, now: Any) -> None:
    for ref in _credential_refs():
        conn.execute(
            text(f"DELETE FROM {ref.table} WHERE org_id = :org AND {ref.column} = :old").bindparams(
                *_uuid_params("org", "old")
            ),
            {"org": ds.org_id, "old": ds.heavy_id},
        )
    conn.execute(
        text(
            "UPDATE users SET status = 'deleted', email_key = NULL, deleted_at = :now, "
            "restorable_until = :until WHERE org_id = :org AND id = :old"
        ).bindparams(*_uuid_params("org", "old"), *_ts_params("now", "until")),
        {"org": ds.org_id, "old": ds.heavy_id, "now": now, "until": now + NOW_OFFSET},
    )
    conn.execute(
        text("UPDATE organizations SET seats_used = seats_used - 1 WHERE id = :org").bindparams(
            *_uuid_params("org")
        ),
        {"org": ds.org_id},
    )


def _display_name(conn: Any, ds: DeleteDataset) -> str:
    return str(
        conn.execute(
            text("SELECT display_name FROM users WHERE org_id = :org AND id = :old").bindparams(
                *_uuid_params("org", "old")
            ),
            {"org": ds.org_id, "old": ds.heavy_id},
        ).scalar_one()
    )


def raw_delete(engine: Engine, ds: DeleteDataset) -> tuple[float, int]:
    """The physical limit: one INSERT ... SELECT into the map and one UPDATE per column, one transaction."""
    from roster import clock

    moved = 0
    with stopwatch() as elapsed, engine.begin() as conn:
        now = clock.now()
        op_id = uuid.uuid4()
        name = _display_name(conn, ds)
        _start_operation(conn, ds, op_id, now)
        params = {
            "org": ds.org_id,
            "op": op_id,
            "old": ds.heavy_id,
            "new": ds.system_user_id,
            "name": name,
            "now": now,
        }
        for ref in _content_refs():
            conn.execute(
                text(
                    f"INSERT INTO authorship ({MAP_COLUMNS}) "
                    f"SELECT org_id, :op, :kind, id, :old, :name, :new, :now FROM {ref.table} "
                    f"WHERE org_id = :org AND {ref.column} = :old"
                ).bindparams(*_uuid_params("org", "op", "old", "new"), *_ts_params("now")),
                {**params, "kind": ref.kind},
            )
            result = conn.execute(
                text(
                    f"UPDATE {ref.table} SET {ref.column} = :new WHERE org_id = :org AND {ref.column} = :old"
                ).bindparams(*_uuid_params("org", "old", "new")),
                params,
            )
            moved += int(result.rowcount or 0)
        _finish_user(conn, ds, now)
    return elapsed(), moved


def gitlab_delete(engine: Engine, ds: DeleteDataset, batch: int = GITLAB_BATCH) -> tuple[float, int]:
    """The same moves in batches of ``batch`` rows, one transaction per batch."""
    from roster import clock

    moved = 0
    with stopwatch() as elapsed:
        now = clock.now()
        op_id = uuid.uuid4()
        with engine.begin() as conn:
            name = _display_name(conn, ds)
            _start_operation(conn, ds, op_id, now)
        params = {"org": ds.org_id, "op": op_id, "old": ds.heavy_id, "new": ds.system_user_id, "name": name}
        for ref in _content_refs():
            pick = (
                text(f"SELECT id FROM {ref.table} WHERE org_id = :org AND {ref.column} = :old LIMIT {batch}")
                .bindparams(*_uuid_params("org", "old"))
                .columns(id=Uuid())
            )
            record = text(
                f"INSERT INTO authorship ({MAP_COLUMNS}) "
                f"SELECT org_id, :op, :kind, id, :old, :name, :new, :now FROM {ref.table} "
                "WHERE org_id = :org AND id IN :ids"
            ).bindparams(
                *_uuid_params("org", "op", "old", "new"),
                *_ts_params("now"),
                bindparam("ids", expanding=True, type_=Uuid()),
            )
            move = text(
                f"UPDATE {ref.table} SET {ref.column} = :new WHERE org_id = :org AND id IN :ids"
            ).bindparams(*_uuid_params("org", "new"), bindparam("ids", expanding=True, type_=Uuid()))
            while True:
                with engine.begin() as conn:
                    ids = list(conn.execute(pick, params).scalars())
                    if not ids:
                        break
                    conn.execute(record, {**params, "kind": ref.kind, "ids": ids, "now": now})
                    moved += int(conn.execute(move, {**params, "ids": ids}).rowcount or 0)
        with engine.begin() as conn:
            _finish_user(conn, ds, now)
    return elapsed(), moved


def orm_delete(engine: Engine, ds: DeleteDataset, cap: int = ORM_CAP) -> tuple[float, int, float]:
    """Load each object, set its attribute, add a map object, flush: (seconds, rows, extrapolated)."""
    from roster import clock
    from roster.db.models import Base
    from roster.lifecycle.deletion_models import Authorship

    mappers = {m.local_table.name: m for m in Base.registry.mappers if hasattr(m.local_table, "name")}
    share = min(1.0, cap / max(ds.heavy_refs, 1))
    moved = 0
    with stopwatch() as elapsed, Session(engine) as session:
        now = clock.now()
        op_id = uuid.uuid4()
        conn = session.connection()
        name = _display_name(conn, ds)
        _start_operation(conn, ds, op_id, now)
        for ref in _content_refs():
            mapper = mappers[ref.table]
            cls = mapper.class_
            attr = mapper.get_property_by_column(mapper.local_table.c[ref.column]).key
            limit = max(1, round(ds.per_kind.get(ref.kind, 0) * share))
            objects = session.scalars(
                select(cls).where(cls.org_id == ds.org_id, getattr(cls, attr) == ds.heavy_id).limit(limit)
            ).all()
            for obj in objects:
                setattr(obj, attr, ds.system_user_id)
                session.add(
                    Authorship(
                        org_id=ds.org_id,
                        operation_id=op_id,
                        kind=ref.kind,
                        object_id=obj.id,
                        original_user_id=ds.heavy_id,
                        original_display_name=name,
                        moved_to_id=ds.system_user_id,
                        moved_at=now,
                    )
                )
            session.flush()
            moved += len(objects)
        _finish_user(session.connection(), ds, now)
        session.commit()
    seconds = elapsed()
    return seconds, moved, seconds * ds.heavy_refs / max(moved, 1)


# --- per-statement profile -------------------------------------------------------------------------


def profile_statements(engine: Engine, action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` and time every SQL statement it sends: where the time goes."""
    spent: dict[str, list[float]] = defaultdict(list)
    starts: list[float] = []

    import time

    def before(*_args: Any) -> None:
        starts.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if starts:
            spent[" ".join(statement.split())[:160]].append(time.perf_counter() - starts.pop())

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        with stopwatch() as elapsed:
            action()
        wall = elapsed()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    in_sql = sum(sum(v) for v in spent.values())
    top = sorted(spent.items(), key=lambda kv: -sum(kv[1]))[:12]
    return {
        "wall_seconds": wall,
        "sql_seconds": in_sql,
        "python_seconds": wall - in_sql,
        "statements": sum(len(v) for v in spent.values()),
        "top": [{"sql": k, "count": len(v), "seconds": sum(v)} for k, v in top],
    }


# --- the benchmark ---------------------------------------------------------------------------------


def _dataset(dbs: Databases, label: str, *, rows: int, heavy: int, users: int) -> tuple[str, DeleteDataset]:
    name = dbs.create_empty(label)
    engine = _engine(dbs.url(name))
    try:
        ds = generate(engine, total_rows=rows, heavy_refs=heavy, users=users)
        analyze(engine)
    finally:
        engine.dispose()
    log(
        f"{dbs.kind} {label}: {ds.content_rows:,} content rows, {ds.heavy_refs:,} heavy refs, "
        f"{ds.users:,} users in {ds.seconds:.1f}s ({dbs.size_bytes(name) / 1e6:.0f} MB)"
    )
    return name, ds


class _Runner:
    """Timed runs on fresh copies of a template, always through the same engine.

    The engine (and so SQLAlchemy's compiled-statement cache, as in a long-running server) lives
    across runs: before each run its pool is emptied and the database under its name replaced by a
    fresh copy of the template.
    """

    def __init__(self, dbs: Databases) -> None:
        self.dbs = dbs
        self.name = dbs.new_name("run")
        self.engine = _engine(dbs.url(self.name))

    def __call__(self, template: str, fn: Callable[[Engine], Any]) -> Any:
        self.engine.dispose()
        self.dbs.drop(self.name)
        self.dbs.copy(template, "run", name=self.name)
        try:
            return fn(self.engine)
        finally:
            self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()
        self.dbs.drop(self.name)


def _warm_up(dbs: Databases, on_copy: _Runner) -> None:
    """Run every method once on a small data set, so no timed run pays for first-use compilation."""
    template, ds = _dataset(dbs, "warmup", rows=5_000, heavy=1_000, users=200)
    on_copy(template, lambda e: (roster_delete(e, ds), roster_restore(e, ds)))
    on_copy(template, lambda e: raw_delete(e, ds))
    on_copy(template, lambda e: gitlab_delete(e, ds))
    on_copy(template, lambda e: orm_delete(e, ds))
    dbs.drop(template)


def run(kind: str, scale: float, reps: int, *, big: bool = True) -> dict[str, Any]:
    """The delete benchmark on one database kind; returns its results."""
    dbs = Databases(kind)
    rows = round(ROWS_AT_SCALE_1 * scale)
    heavy = round(HEAVY_AT_SCALE_1 * scale)
    users = users_for(scale)
    out: dict[str, Any] = {"database": kind, "scale": scale, "repetitions": reps}
    on_copy = _Runner(dbs)
    try:
        _warm_up(dbs, on_copy)
        template, ds = _dataset(dbs, "delete", rows=rows, heavy=heavy, users=users)
        out["dataset"] = ds.as_dict()
        runs: dict[str, list[float]] = defaultdict(list)
        orm_rows = 0
        moved_counts: dict[str, int] = {}

        # An ordinary person of the same organization: restore must cost what their references
        # cost, not what the organization's tables hold.
        light = replace(ds, heavy_id=generated_id(USERS_PREFIX, 1), heavy_email="user1@bench.test")

        def roster_both(engine: Engine) -> tuple[float, int, float, int, float, int, float]:
            d, moved = roster_delete(engine, ds)
            r, restored = roster_restore(engine, ds)
            ld, light_moved = roster_delete(engine, light)
            lr, _ = roster_restore(engine, light)
            return d, moved, r, restored, ld, light_moved, lr

        for rep in range(reps):
            d, moved, r, restored, ld, light_moved, lr = on_copy(template, roster_both)
            runs["roster"].append(d)
            runs["restore"].append(r)
            runs["light_delete"].append(ld)
            runs["light_restore"].append(lr)
            moved_counts["roster"] = moved
            moved_counts["restore"] = restored
            moved_counts["light"] = light_moved
            raw_s, moved_counts["raw"] = on_copy(template, lambda e: raw_delete(e, ds))
            runs["raw"].append(raw_s)
            gl_s, moved_counts["gitlab"] = on_copy(template, lambda e: gitlab_delete(e, ds))
            runs["gitlab"].append(gl_s)
            orm_s, orm_rows, orm_full = on_copy(template, lambda e: orm_delete(e, ds))
            runs["orm_measured"].append(orm_s)
            runs["orm"].append(orm_full)
            log(
                f"{kind} delete rep {rep + 1}/{reps}: roster {d:.2f}s (restore {r:.2f}s), raw {raw_s:.2f}s, "
                f"gitlab {gl_s:.2f}s, orm {orm_s:.2f}s for {orm_rows:,} rows (~{orm_full:.1f}s for all); "
                f"ordinary person ({light_moved:,} refs): delete {ld:.3f}s, restore {lr:.3f}s"
            )
        out["profile"] = on_copy(template, lambda e: profile_statements(e, lambda: roster_delete(e, ds)))
        out["restore_profile"] = on_copy(
            template,
            lambda e: (roster_delete(e, ds), profile_statements(e, lambda: roster_restore(e, ds)))[1],
        )
        out["raw_profile"] = on_copy(template, lambda e: profile_statements(e, lambda: raw_delete(e, ds)))
        out["runs"] = dict(runs)
        out["moved"] = moved_counts
        out["orm_rows_measured"] = orm_rows
        med = {k: median(v) for k, v in runs.items()}
        out["median_seconds"] = med
        out["rows_per_second"] = {
            k: (moved_counts["light"] if k.startswith("light") else ds.heavy_refs) / v
            for k, v in med.items()
            if v and k not in ("orm_measured",)
        }
        out["ratios"] = {
            "roster_vs_raw": target(ratio(med["roster"], med["raw"]), 1.5),
            "restore_vs_delete": target(ratio(med["restore"], med["roster"]), 1.5),
            "light_restore_vs_delete": target(ratio(med["light_restore"], med["light_delete"]), 1.5),
            "gitlab_vs_raw": {"value": ratio(med["gitlab"], med["raw"])},
            "orm_vs_raw": {"value": ratio(med["orm"], med["raw"]), "extrapolated": orm_rows < ds.heavy_refs},
        }
        dbs.drop(template)

        if big:
            big_heavy = round(BIG_HEAVY_AT_SCALE_1 * scale)
            template, big_ds = _dataset(
                dbs, "delete_big", rows=rows + big_heavy - heavy, heavy=big_heavy, users=users
            )
            out["big_dataset"] = big_ds.as_dict()
            big_runs: dict[str, list[float]] = defaultdict(list)
            for rep in range(reps):
                d, _m, r, _x = on_copy(
                    template,
                    lambda e: (*roster_delete(e, big_ds), *roster_restore(e, big_ds)),
                )
                big_runs["roster"].append(d)
                big_runs["restore"].append(r)
                raw_s, _ = on_copy(template, lambda e: raw_delete(e, big_ds))
                big_runs["raw"].append(raw_s)
                log(
                    f"{kind} big delete rep {rep + 1}/{reps}: roster {d:.2f}s (restore {r:.2f}s), raw {raw_s:.2f}s"
                )
            dbs.drop(template)
            big_med = {k: median(v) for k, v in big_runs.items()}
            out["big_runs"] = dict(big_runs)
            out["big_median_seconds"] = big_med
            out["ratios"]["big_vs_small"] = target(ratio(big_med["roster"], med["roster"]), 11.0)
            out["ratios"]["big_roster_vs_raw"] = target(ratio(big_med["roster"], big_med["raw"]), 1.5)
            out["ratios"]["big_refs_ratio"] = {"value": big_ds.heavy_refs / max(ds.heavy_refs, 1)}
    finally:
        on_copy.close()
        dbs.drop_all()
    return out


def end_state(engine: Engine, ds: DeleteDataset) -> dict[str, Any]:
    """What a deletion leaves behind, with the two people named: every content row that points at
    the heavy user or the System User, rows hidden, the authorship map, the user row."""
    from sqlalchemy import func

    from roster.db.models import Base
    from roster.references import content_references

    def who(value: Any) -> str:
        return {ds.heavy_id: "heavy", ds.system_user_id: "system"}.get(value, str(value))

    state: dict[str, Any] = {}
    with engine.connect() as conn:
        for ref in content_references():
            table = Base.metadata.tables[ref.table]
            col = table.c[ref.column]
            rows = conn.execute(
                select(table.c.id, col).where(
                    table.c.org_id == ds.org_id, col.in_([ds.heavy_id, ds.system_user_id])
                )
            ).all()
            state[ref.kind] = sorted((str(r[0]), who(r[1])) for r in rows)
            if "hidden_by" in table.c:
                state[f"{ref.table}.hidden"] = conn.execute(
                    select(func.count()).select_from(table).where(table.c.hidden_by.is_not(None))
                ).scalar_one()
        amap = Base.metadata.tables["authorship"]
        state["authorship"] = sorted(
            (r.kind, str(r.object_id), who(r.original_user_id), who(r.moved_to_id), r.original_display_name)
            for r in conn.execute(select(amap).where(amap.c.org_id == ds.org_id)).all()
        )
        users = Base.metadata.tables["users"]
        user = conn.execute(
            select(users.c.status, users.c.email_key).where(
                users.c.org_id == ds.org_id, users.c.id == ds.heavy_id
            )
        ).one()
        state["user"] = (user.status, user.email_key)
    return state
