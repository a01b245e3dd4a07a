"""Prepared statements (``roster.db.prepared``) send what ``Connection.execute`` would send and give
back what it would give back, on both databases."""

from __future__ import annotations

import re
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Table, bindparam, event, insert, select, update
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import Organization, User
from roster.db.models import Base
from roster.db.prepared import Prepared
from roster.lifecycle.models import AuditEvent
from tests.factories import make_org, make_user

USERS: Table = User.__table__  # type: ignore[assignment]
ORGANIZATIONS: Table = Organization.__table__  # type: ignore[assignment]
EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]


def both_ways(
    db: Session, statement: Any, params: dict[str, Any], **kwargs: Any
) -> tuple[list[Any], list[Any]]:
    """The rows of ``statement`` run through Core and through ``Prepared``, in that order."""
    core = [tuple(row) for row in db.connection().execute(statement, params)]
    prepared = Prepared(statement, **kwargs).execute(db, params).rows
    return core, prepared


def test_a_select_gives_back_the_same_typed_values(db: Session) -> None:
    org = make_org(db)
    person = make_user(db, org.org, email="ada@example.test")
    db.flush()
    statement = select(
        USERS.c.id, USERS.c.org_id, USERS.c.created_at, USERS.c.is_system, USERS.c.email
    ).where(USERS.c.org_id == bindparam("org_id"), USERS.c.email_key == bindparam("key"))
    core, prepared = both_ways(db, statement, {"org_id": org.org.id, "key": person.email_key})
    assert prepared == core
    assert prepared[0][0] == person.id and isinstance(prepared[0][0], uuid.UUID)
    assert prepared[0][2].tzinfo is not None  # the column's own type decorator ran on the way out


def test_fixed_values_and_a_repeated_parameter_are_bound_in_place(db: Session) -> None:
    org = make_org(db)
    make_user(db, org.org, email="grace@example.test", first_name="Grace")
    db.flush()
    # The key appears twice (positional on SQLite), with literals baked into the statement between.
    statement = (
        select(USERS.c.first_name)
        .where(USERS.c.org_id == bindparam("org_id"), USERS.c.status == "active")
        .where(USERS.c.email_key == bindparam("key"), USERS.c.is_system.is_(False))
        .where(USERS.c.scim_user_name_key.is_(None) | (USERS.c.org_id == bindparam("org_id")))
        .limit(5)
    )
    core, prepared = both_ways(db, statement, {"org_id": org.org.id, "key": "grace@example.test"})
    assert prepared == core == [("Grace",)]


def test_an_update_counts_its_rows_and_returns_what_it_is_asked_to(db: Session) -> None:
    org = make_org(db)
    db.flush()
    statement = (
        update(ORGANIZATIONS)
        .where(ORGANIZATIONS.c.id == bindparam("org_id"))
        .values(audit_seq=ORGANIZATIONS.c.audit_seq + 1)
        .returning(ORGANIZATIONS.c.audit_seq)
    )
    before = db.scalar(select(ORGANIZATIONS.c.audit_seq).where(ORGANIZATIONS.c.id == org.org.id))
    result = Prepared(statement).execute(db, {"org_id": org.org.id})
    assert result.rowcount == 1
    assert result.one() == (before + 1,)
    assert Prepared(statement).execute(db, {"org_id": uuid.uuid4()}).rowcount == 0


def _event_row(org_id: uuid.UUID, *, seq: int) -> dict[str, Any]:
    """An audit event's every column, for inserting it by hand."""
    return {
        "org_id": org_id,
        "id": uuid.uuid4(),
        "seq": seq,
        "created_at": clock.now() - timedelta(days=3),
        "action": "test.prepared",
        "actor_id": None,
        "subject_id": None,
        "actor_display": "Élodie Ünal",
        "subject_display": "",
        "details": {"ids": [str(org_id)], "nested": {"n": 1}},
        "personal_digest": "0" * 64,
        "redactions": None,
        "prev_hash": "1" * 64,
        "hash": "2" * 64,
    }


def test_an_insert_writes_the_row_core_would(db: Session) -> None:
    org = make_org(db)
    db.flush()
    row = _event_row(org.org.id, seq=10_000)
    moment = row["created_at"]
    Prepared(insert(EVENTS), columns=list(row)).execute(db, row)
    core_row = {**row, "id": uuid.uuid4(), "seq": 10_001}
    db.connection().execute(insert(EVENTS), core_row)
    stored = {
        r.seq: r._asdict()
        for r in db.connection().execute(select(EVENTS).where(EVENTS.c.seq.in_([10_000, 10_001])))
    }
    assert set(stored) == {10_000, 10_001}
    for key in row.keys() - {"id", "seq"}:
        assert stored[10_000][key] == stored[10_001][key], key
    assert stored[10_000]["created_at"] == moment
    assert stored[10_000]["redactions"] is None


def test_pending_objects_are_flushed_first_unless_autoflush_is_off(db: Session) -> None:
    org = make_org(db)
    person = make_user(db, org.org, first_name="Before")
    person.first_name = "After"
    statement = Prepared(select(USERS.c.first_name).where(USERS.c.id == bindparam("id")))
    with db.no_autoflush:
        assert statement.execute(db, {"id": person.id}).scalar() == "Before"
    assert statement.execute(db, {"id": person.id}).scalar() == "After"


def test_statements_are_seen_by_cursor_events(db: Session) -> None:
    org = make_org(db)
    db.flush()
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        Prepared(select(ORGANIZATIONS.c.slug).where(ORGANIZATIONS.c.id == bindparam("id"))).execute(
            db, {"id": org.org.id}
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 1 and seen[0].startswith("SELECT organizations.slug")


def test_unwatched_statements_go_straight_to_the_driver(db: Session, monkeypatch: Any) -> None:
    """With nothing listening, a statement skips SQLAlchemy's execution path (the tests above
    compared that path's results with Core's)."""
    org = make_org(db)
    db.flush()

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("sent through Connection.exec_driver_sql")

    monkeypatch.setattr(Connection, "exec_driver_sql", refuse)
    slug = Prepared(select(ORGANIZATIONS.c.slug).where(ORGANIZATIONS.c.id == bindparam("id")))
    assert slug.execute(db, {"id": org.org.id}).scalar() == org.org.slug


def test_a_drivers_error_is_raised_as_sqlalchemys(db: Session) -> None:
    org = make_org(db)
    db.flush()
    row = _event_row(org.org.id, seq=20_000)
    statement = Prepared(insert(EVENTS), columns=list(row))
    statement.execute(db, row)
    with pytest.raises(IntegrityError), db.begin_nested():
        statement.execute(db, {**row, "action": "test.again"})  # the same id and sequence number
    # Nothing more was written, and the transaction goes on.
    actions = db.scalars(select(EVENTS.c.action).where(EVENTS.c.id == row["id"])).all()
    assert actions == ["test.prepared"]


def test_statements_it_cannot_send_as_compiled_are_refused(db: Session) -> None:
    expanding = Prepared(select(USERS.c.id).where(USERS.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="rendered at execution"):
        expanding.execute(db, {"ids": [uuid.uuid4()]})
    defaults = Prepared(insert(EVENTS), columns=["org_id", "seq"])  # id and created_at default in Python
    with pytest.raises(ValueError, match="defaults computed in Python"):
        defaults.execute(db, {"org_id": uuid.uuid4(), "seq": 1})


def _prepared_statements() -> list[tuple[str, Prepared]]:
    """Every Prepared statement the application defines at module level."""
    import roster.app  # noqa: F401  (imports every feature)

    found = []
    for name, module in sorted(sys.modules.items()):
        if name.startswith("roster."):
            for attribute, value in vars(module).items():
                if isinstance(value, Prepared):
                    found.append((f"{name}.{attribute}", value))
    return found


def _partial_index_columns() -> set[str]:
    """The columns the partial indexes' WHERE clauses test (SQLite's form)."""
    columns = set()
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"].get("where")
            if where is not None:
                columns |= {col.name for col in table.columns if re.search(rf"\b{col.name}\b", str(where))}
    return columns


def test_no_prepared_statement_binds_a_value_a_partial_index_tests() -> None:
    """A bound value compared with a column that a partial index's WHERE tests makes SQLite plan
    the statement again on every execution, and keeps PostgreSQL's generic plans off the index:
    such values are written out (``IS_PENDING``, ``NOT_DELETED``)."""
    statements = _prepared_statements()
    assert len(statements) >= 8  # the SCIM create's, at least
    columns = _partial_index_columns()
    assert {"status", "is_system"} <= columns
    dialect = sqlite_dialect()
    bound = re.compile(rf"\b({'|'.join(sorted(columns))})\s*(=|!=|<>|IS NOT|IS)\s*\?")
    for name, prepared in statements:
        sql = prepared.statement.compile(dialect=dialect, column_keys=prepared.columns).string
        assert not bound.search(sql), f"{name} binds a value a partial index tests: {sql}"


def test_a_session_factory_configures_the_mappers_before_any_object_is_built_from_a_row() -> None:
    # In a fresh process: an identity provider's first request may build a User straight from its
    # row (``instance_of``) before the ORM has loaded anything, which would configure the mappers.
    import subprocess
    import sys

    script = (
        "from sqlalchemy import create_engine, inspect\n"
        "from roster.db.engine import make_sessionmaker\n"
        "from roster.accounts.models import User\n"
        "make_sessionmaker(create_engine('sqlite://'))\n"
        "assert inspect(User).configured, 'the mappers are not configured'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
