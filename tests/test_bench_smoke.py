"""The delete benchmark's baselines do the same work as Roster: identical end states.

Timing is not tested here (benchmarks are not tests); this proves that what ``bench`` compares
Roster's ``delete_user`` against moves the same rows and writes the same authorship map.
"""

from __future__ import annotations

from typing import Any

from bench.datagen import generate
from bench.delete import end_state, gitlab_delete, orm_delete, raw_delete, roster_delete

from roster.db.engine import make_engine, writer
from roster.references import content_references
from tests.dbutil import DatabaseFactory


def _deleted_with(databases: DatabaseFactory, method: Any) -> tuple[dict[str, Any], int, int]:
    engine = writer(make_engine(databases.new_database()))
    try:
        ds = generate(engine, total_rows=3_000, heavy_refs=600, users=200)  # type: ignore[arg-type]
        result = method(engine, ds)
        return end_state(engine, ds), result[1], ds.heavy_refs  # type: ignore[arg-type]
    finally:
        engine.dispose()  # type: ignore[union-attr]


def test_raw_sql_batched_and_orm_baselines_leave_the_same_end_state_as_roster_delete(
    databases: DatabaseFactory,
) -> None:
    roster, roster_moved, heavy_refs = _deleted_with(databases, roster_delete)

    assert roster_moved == heavy_refs == 600
    assert len(roster["authorship"]) == 600
    assert roster["user"] == ("deleted", None)
    assert all(who == "system" for ref in content_references() for _id, who in roster[ref.kind])
    assert all(len(roster[ref.kind]) > 0 for ref in content_references())
    for method in (raw_delete, gitlab_delete, orm_delete):
        state, moved, _ = _deleted_with(databases, method)
        assert moved == roster_moved, method.__name__
        assert state == roster, method.__name__
