"""Set-based data for the delete benchmark, derived from the reference registry and the schema.

Every table that holds a registered *content* reference to a user gets rows (plus the tables they
need as parents), so a new intranet module is covered without touching this file. Rows are made by
one ``INSERT ... SELECT`` per table over a number series: ``generate_series`` on PostgreSQL, a
recursive CTE on SQLite. Ids are deterministic (``<table number>`` and ``<row number>`` as hex), so
a row's parent is arithmetic and no id has to travel through Python.

Layout of one table's ``rows`` rows, numbered ``n``:

- one block per content reference column of the table, ``quota`` rows long, where that column holds
  the heavy user (the other user columns hold ordinary users);
- the rest (the background) spread over the ordinary users.

Association tables (a reference with ``unique_with``) stay unique: the parent is ``n % P`` and the
ordinary user ``(7 * (n % P) + n // P) % U``, which is one-to-one for ``n < P * U`` and spreads
evenly; the heavy user's block is at most ``P`` rows long, so each of its rows has another parent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import TextClause

from bench.common import log, stopwatch

USERS_PREFIX = 0x0F00
TABLE_PREFIX_BASE = 0x1000
EXTRA_UUID_PREFIX = 0x8000
BENCH_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SKIP_TABLES = frozenset({"organizations", "users"})


def users_for(scale: float) -> int:
    return max(200, round(10_000 * scale))


@dataclass
class TablePlan:
    table: Table
    prefix: int
    rows: int = 0
    # content reference columns, in block order: (kind, column, quota)
    blocks: list[tuple[str, str, int]] = field(default_factory=list)
    user_columns: list[str] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)  # fk column -> parent table


@dataclass
class DeleteDataset:
    """What was generated, and the ids a benchmark needs."""

    org_id: uuid.UUID
    system_user_id: uuid.UUID
    admin_id: uuid.UUID
    heavy_id: uuid.UUID
    heavy_email: str
    users: int
    content_rows: int
    heavy_refs: int
    per_kind: dict[str, int]
    per_table: dict[str, int]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": str(self.org_id),
            "system_user_id": str(self.system_user_id),
            "admin_id": str(self.admin_id),
            "heavy_id": str(self.heavy_id),
            "heavy_email": self.heavy_email,
            "users": self.users,
            "content_rows": self.content_rows,
            "heavy_refs": self.heavy_refs,
            "per_kind": self.per_kind,
            "per_table": self.per_table,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeleteDataset:
        return cls(
            org_id=uuid.UUID(data["org_id"]),
            system_user_id=uuid.UUID(data["system_user_id"]),
            admin_id=uuid.UUID(data["admin_id"]),
            heavy_id=uuid.UUID(data["heavy_id"]),
            heavy_email=data["heavy_email"],
            users=data["users"],
            content_rows=data["content_rows"],
            heavy_refs=data["heavy_refs"],
            per_kind=dict(data["per_kind"]),
            per_table=dict(data["per_table"]),
            seconds=data.get("seconds", 0.0),
        )


def generated_id(prefix: int, n: int) -> uuid.UUID:
    """The id the SQL below gives row ``n`` of the table with ``prefix``."""
    return uuid.UUID(f"{prefix:016x}{n:016x}")


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def uuid(self, prefix: int, expr: str) -> str:
        if self.dialect == "sqlite":
            return f"printf('%016x%016x', {prefix}, {expr})"
        return f"(lpad(to_hex({prefix}::bigint), 16, '0') || lpad(to_hex(({expr})::bigint), 16, '0'))::uuid"

    def series(self, rows: int) -> tuple[str, str]:
        """(prefix before INSERT, FROM clause) giving ``n`` = 0 .. rows - 1."""
        if self.dialect == "sqlite":
            return (
                f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {rows - 1}) ",
                "FROM s",
            )
        return "", f"FROM generate_series(0, {rows - 1}) AS s(n)"

    def text_of(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"


def _composite_fks(table: Table) -> dict[str, str]:
    """fk column -> referred table, for the (org_id, x) -> (other.org_id, other.id) foreign keys."""
    out: dict[str, str] = {}
    for fk in table.foreign_key_constraints:
        cols = [c.name for c in fk.columns]
        referred = fk.referred_table.name
        if referred == "organizations":
            continue
        others = [c for c in cols if c != "org_id"]
        if len(others) == 1:
            out[others[0]] = referred
    return out


def plan_tables(total_rows: int, heavy_refs: int, users: int) -> tuple[dict[str, TablePlan], dict[str, int]]:
    """Which tables get how many rows, and each content kind's share of the heavy user's refs."""
    from roster.db.models import Base
    from roster.references import all_references, content_references

    content = content_references()
    kinds = [r for r in content if r.table in Base.metadata.tables]
    user_columns_by_table: dict[str, set[str]] = {}
    for ref in all_references():
        user_columns_by_table.setdefault(ref.table, set()).add(ref.column)

    sorted_tables = [t for t in Base.metadata.sorted_tables if t.name not in SKIP_TABLES]
    numbers = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    wanted = {r.table for r in kinds}
    # Parents that a content row cannot exist without (non-nullable FKs), transitively.
    changed = True
    while changed:
        changed = False
        for t in sorted_tables:
            if t.name not in wanted:
                continue
            for col, parent in _composite_fks(t).items():
                if parent in SKIP_TABLES or parent == t.name:
                    continue
                if not t.c[col].nullable and parent not in wanted:
                    wanted.add(parent)
                    changed = True

    plans: dict[str, TablePlan] = {}
    for t in sorted_tables:
        if t.name not in wanted:
            continue
        fks = _composite_fks(t)
        plan = TablePlan(table=t, prefix=TABLE_PREFIX_BASE + numbers[t.name])
        plan.user_columns = sorted(
            c for c in user_columns_by_table.get(t.name, set()) | {c for c, p in fks.items() if p == "users"}
        )
        plan.parents = {c: p for c, p in fks.items() if p not in SKIP_TABLES and p != t.name and p in wanted}
        plans[t.name] = plan

    per_kind: dict[str, int] = {}
    # References held in ``users`` itself (a manager) are capped by the number of people.
    on_users = [r for r in kinds if r.table == "users"]
    elsewhere = [r for r in kinds if r.table != "users"]
    fair_share = heavy_refs // len(kinds)
    for ref in on_users:
        per_kind[ref.kind] = min(fair_share, users - 1)
    rest = heavy_refs - sum(per_kind.values())
    base, extra = divmod(rest, len(elsewhere))
    for i, ref in enumerate(elsewhere):
        quota = base + (1 if i < extra else 0)
        per_kind[ref.kind] = quota
        plans[ref.table].blocks.append((ref.kind, ref.column, quota))

    background_total = max(total_rows - sum(q for p in plans.values() for _, _, q in p.blocks), 0)
    per_table_background = background_total // max(len(plans), 1)
    for plan in plans.values():
        plan.rows = per_table_background + sum(q for _, _, q in plan.blocks)
    # A parent must have at least as many rows as any heavy block of its children (see module doc),
    # and P * U rows of room for the background.
    for plan in reversed(list(plans.values())):
        for parent in plan.parents.values():
            need = max([q for _, _, q in plan.blocks] + [1])
            need = max(need, -(-plan.rows // max(users - 1, 1)))
            if plans[parent].rows < need:
                plans[parent].rows = need
    return plans, per_kind


def _column_expr(
    sql: _Sql,
    plan: TablePlan,
    column: Column[Any],
    plans: dict[str, TablePlan],
    params: dict[str, Any],
    binds: list[Any],
    users: int,
) -> str | None:
    """The SQL expression for one column of row ``n`` (None: leave it to the default / NULL)."""
    name = column.name
    if name == "org_id":
        return ":org_id"
    if column.primary_key and name == "id":
        return sql.uuid(plan.prefix, "n")
    if name in plan.user_columns:
        ordinary_pool = users - 1  # user 0 is the heavy user
        modulus = 1
        if plan.parents:
            modulus = max(1, plans[next(iter(plan.parents.values()))].rows)
        offset = plan.user_columns.index(name) * 7919
        # For one parent (n % M) the rows are n = p + k*M, so the user 7p + k is different for each
        # of them (unique association rows), and across parents the users spread evenly.
        ordinary = sql.uuid(
            USERS_PREFIX, f"1 + (((n % {modulus}) * 7 + n / {modulus}) + {offset}) % {ordinary_pool}"
        )
        start = 0
        for _kind, block_column, quota in plan.blocks:
            if block_column == name and quota:
                return f"CASE WHEN n >= {start} AND n < {start + quota} THEN :heavy_id ELSE {ordinary} END"
            start += quota
        if column.nullable:
            return None
        return ordinary
    if name in plan.parents:
        parent = plans[plan.parents[name]]
        return sql.uuid(parent.prefix, f"n % {parent.rows}")
    default = column.default
    has_scalar_default = default is not None and getattr(default, "is_scalar", False)
    if column.nullable:
        return None
    if column.server_default is not None and not has_scalar_default:
        return None
    if column.foreign_keys:
        # A non-nullable FK outside the plan (not expected in content tables): leave it to fail loudly.
        return None
    if default is not None and getattr(default, "is_scalar", False):
        key = f"d_{len(binds)}"
        binds.append(bindparam(key, type_=column.type))
        params[key] = default.arg  # type: ignore[attr-defined]
        return f":{key}"
    ctype = column.type
    if isinstance(ctype, DateTime) or (
        getattr(ctype, "impl", None) is not None and isinstance(getattr(ctype, "impl", None), DateTime)
    ):
        key = f"t_{len(binds)}"
        binds.append(bindparam(key, type_=column.type))
        params[key] = BENCH_TIME
        return f":{key}"
    if isinstance(ctype, Uuid):
        return sql.uuid(EXTRA_UUID_PREFIX + plan.prefix, "n")
    if isinstance(ctype, Boolean):
        return "false" if sql.dialect == "postgresql" else "0"
    if isinstance(ctype, Integer | Numeric | Float):
        return "n"
    if isinstance(ctype, String | Text):
        length = getattr(ctype, "length", None)
        body = f"'{name[:3]} ' || {sql.text_of('n')}"
        return f"substr({body}, 1, {length})" if length else body
    if isinstance(ctype, JSON):
        key = f"j_{len(binds)}"
        binds.append(bindparam(key, type_=column.type))
        params[key] = {}
        return f":{key}"
    if isinstance(ctype, LargeBinary):
        return "''" if sql.dialect == "sqlite" else "''::bytea"
    if isinstance(ctype, Date):
        return "'2026-01-05'"
    return None


def _insert_statement(
    sql: _Sql,
    plan: TablePlan,
    plans: dict[str, TablePlan],
    users: int,
    org_id: uuid.UUID,
    heavy_id: uuid.UUID,
) -> tuple[TextClause, dict[str, Any]]:
    params: dict[str, Any] = {"org_id": org_id, "heavy_id": heavy_id}
    binds: list[Any] = [bindparam("org_id", type_=Uuid()), bindparam("heavy_id", type_=Uuid())]
    columns: list[str] = []
    exprs: list[str] = []
    for column in plan.table.columns:
        expr = _column_expr(sql, plan, column, plans, params, binds, users)
        if expr is None:
            continue
        columns.append(column.name)
        exprs.append(expr)
    with_clause, from_clause = sql.series(plan.rows)
    statement = (
        f"{with_clause}INSERT INTO {plan.table.name} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} {from_clause}"
    )
    used = {b.key for b in binds if f":{b.key}" in statement}
    return text(statement).bindparams(*[b for b in binds if b.key in used]), {
        k: v for k, v in params.items() if k in used
    }


def insert_users(engine: Engine, org_id: uuid.UUID, users: int, *, active: int | None = None) -> None:
    """``users`` people for an organization: the first ``active`` active, the rest dismissed."""
    _insert_users(engine, _Sql(engine.dialect.name), org_id, users, {}, active=active)


def _insert_users(
    engine: Engine,
    sql: _Sql,
    org_id: uuid.UUID,
    users: int,
    heavy_columns: dict[str, int],
    *,
    active: int | None = None,
) -> None:
    """``users`` ordinary people (number 0 is the heavy user), keys folded as the directory does."""
    from roster.db.models import Base

    table = Base.metadata.tables["users"]
    first = f"'User' || {sql.text_of('n')}"
    last = f"'Bench' || {sql.text_of('n % 97')}"
    email = f"'user' || {sql.text_of('n')} || '@bench.test'"
    explicit = {
        "org_id": ":org_id",
        "id": sql.uuid(USERS_PREFIX, "n"),
        "email": email,
        "email_key": email,
        "first_name": first,
        "last_name": last,
        "display_name": f"{first} || ' ' || {last}",
        "position": "'Engineer'",
        "role": "'employee'",
        "status": "'active'"
        if active is None
        else f"CASE WHEN n < {active} THEN 'active' ELSE 'dismissed' END",
        "is_system": "false" if sql.dialect == "postgresql" else "0",
        "created_at": ":ts",
        "updated_at": ":ts",
        "first_name_key": f"lower({first})",
        "last_name_key": f"lower({last})",
        "display_name_key": f"lower({first} || ' ' || {last})",
        "email_search_key": email,
    }
    if active is not None:
        explicit["dismissed_at"] = f"CASE WHEN n >= {active} THEN :ts END"
    for column, quota in heavy_columns.items():
        # Ordinary users 1 .. quota have the heavy user in this column (their manager).
        explicit[column] = f"CASE WHEN n >= 1 AND n <= {quota} THEN :heavy_id END"
    columns = [c for c in explicit if c in table.c]
    with_clause, from_clause = sql.series(users)
    statement = text(
        f"{with_clause}INSERT INTO users ({', '.join(columns)}) "
        f"SELECT {', '.join(explicit[c] for c in columns)} {from_clause}"
    )
    binds = [bindparam("org_id", type_=Uuid()), bindparam("ts", type_=table.c.created_at.type)]
    params: dict[str, Any] = {"org_id": org_id, "ts": BENCH_TIME}
    if heavy_columns:
        binds.append(bindparam("heavy_id", type_=Uuid()))
        params["heavy_id"] = generated_id(USERS_PREFIX, 0)
    with engine.begin() as conn:
        conn.execute(statement.bindparams(*binds), params)


def _may_skip_fk_triggers(engine: Engine) -> bool:
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return bool(
            conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
        )


def generate(engine: Engine, *, total_rows: int, heavy_refs: int, users: int) -> DeleteDataset:
    """Fill an empty, migrated database; returns what was made."""
    from sqlalchemy.orm import Session

    from roster.accounts import service as accounts

    sql = _Sql(engine.dialect.name)
    with stopwatch() as elapsed:
        with Session(engine) as session:
            org, admin = accounts.create_organization(
                session,
                slug="bench",
                name="Bench Ltd",
                plan="enterprise",
                admin_email="admin@bench.test",
                admin_password="Bench-password-1!",
                admin_first_name="Ada",
                admin_last_name="Admin",
            )
            system = accounts.get_system_user(session, org.id)
            session.commit()
            org_id, admin_id, system_id = org.id, admin.id, system.id
        plans, per_kind = plan_tables(total_rows, heavy_refs, users)
        from roster.references import content_references

        on_users = {r.column: per_kind[r.kind] for r in content_references() if r.table == "users"}
        _insert_users(engine, sql, org_id, users, on_users)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE organizations SET seats_used = seats_used + :n WHERE id = :org").bindparams(
                    bindparam("org", type_=Uuid())
                ),
                {"n": users, "org": org_id},
            )
        heavy_id = generated_id(USERS_PREFIX, 0)
        skip_fk_triggers = _may_skip_fk_triggers(engine)
        for plan in plans.values():
            statement, params = _insert_statement(sql, plan, plans, users, org_id, heavy_id)
            with stopwatch() as t, engine.begin() as conn:
                if skip_fk_triggers:
                    # The generated rows are consistent by construction; checking a million FKs
                    # one trigger call at a time is most of PostgreSQL's load time.
                    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.execute(statement, params)
            log(f"  {plan.table.name}: {plan.rows:,} rows in {t():.1f}s")
    return DeleteDataset(
        org_id=org_id,
        system_user_id=system_id,
        admin_id=admin_id,
        heavy_id=heavy_id,
        heavy_email="user0@bench.test",
        users=users,
        content_rows=sum(p.rows for p in plans.values()),
        heavy_refs=sum(per_kind.values()),
        per_kind=per_kind,
        per_table={name: p.rows for name, p in plans.items()},
        seconds=elapsed(),
    )


# --- a directory of many organizations (memory benchmark) ------------------------------------------

ORG_PREFIX = 0x0E00
FIRST_NAMES = (
    "Anna", "Jöhn", "Élodie", "Ömer", "Zoë", "María", "Li", "Øystein", "Kenji", "Fatima",
    "Oliver", "Sofía", "Đorđe", "Chloé", "Mateo", "Ingrid", "Noah", "Amélie", "Lars", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Müller", "García", "Søren", "Nowak", "Rossi", "Dubois", "Tanaka", "Öztürk",
    "Kowalski", "Ivanova", "Brown", "Novák", "Silva", "Petit", "Lindqvist", "Horvát", "Brien", "Schäfer",
)  # fmt: skip


def _pick(values: tuple[str, ...], expr: str) -> str:
    cases = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE ({expr}) % {len(values)} {cases} END"


def insert_organizations(engine: Engine, count: int, *, first: int = 1) -> list[uuid.UUID]:
    """``count`` organizations (enterprise plan) with generated ids; returns their ids."""
    sql = _Sql(engine.dialect.name)
    with_clause, from_clause = sql.series(count)
    statement = text(
        f"{with_clause}INSERT INTO organizations (id, slug, name, plan, seats_used, created_at) "
        f"SELECT {sql.uuid(ORG_PREFIX, f'n + {first}')}, 'bench-org-' || {sql.text_of(f'n + {first}')}, "
        f"'Bench org ' || {sql.text_of(f'n + {first}')}, 'enterprise', 0, :ts {from_clause}"
    ).bindparams(bindparam("ts", type_=DateTime(timezone=True)))
    with engine.begin() as conn:
        conn.execute(
            statement, {"ts": BENCH_TIME if sql.dialect == "postgresql" else BENCH_TIME.replace(tzinfo=None)}
        )
    return [generated_id(ORG_PREFIX, first + i) for i in range(count)]


def insert_people(
    engine: Engine,
    *,
    per_org: int,
    org_id: uuid.UUID | None = None,
    org_count: int = 1,
    first_org: int = 1,
    dismissed_every: int = 10,
) -> None:
    """People with varied (accented) names: ``per_org`` in ``org_id``, or in each of ``org_count``
    generated organizations; every ``dismissed_every``-th one dismissed. Ids: USERS_PREFIX, n."""
    from roster.db.models import Base
    from roster.directory.keys import search_key

    sql = _Sql(engine.dialect.name)
    table = Base.metadata.tables["users"]
    total = per_org if org_id is not None else per_org * org_count
    local = "n" if org_id is not None else f"n % {per_org}"
    org_expr = ":org_id" if org_id is not None else sql.uuid(ORG_PREFIX, f"{first_org} + n / {per_org}")
    first = _pick(FIRST_NAMES, local)
    last = _pick(LAST_NAMES, f"{local} / {len(FIRST_NAMES)}")
    first_key = _pick(tuple(search_key(v) for v in FIRST_NAMES), local)
    last_key = _pick(tuple(search_key(v) for v in LAST_NAMES), f"{local} / {len(FIRST_NAMES)}")
    email = f"'u' || {sql.text_of(local)} || '@example.test'"
    dismissed = f"{local} % {dismissed_every} = {dismissed_every - 1}"
    explicit = {
        "org_id": org_expr,
        "id": sql.uuid(USERS_PREFIX, local),
        "email": email,
        "email_key": email,
        "first_name": first,
        "last_name": last,
        "display_name": f"{first} || ' ' || {last}",
        "position": "'Engineer'",
        "role": "'employee'",
        "status": f"CASE WHEN {dismissed} THEN 'dismissed' ELSE 'active' END",
        "dismissed_at": f"CASE WHEN {dismissed} THEN :ts END",
        "is_system": "false" if sql.dialect == "postgresql" else "0",
        "created_at": ":ts",
        "updated_at": ":ts",
        "first_name_key": first_key,
        "last_name_key": last_key,
        "display_name_key": f"{first_key} || ' ' || {last_key}",
        "email_search_key": email,
    }
    columns = [c for c in explicit if c in table.c]
    with_clause, from_clause = sql.series(total)
    statement = text(
        f"{with_clause}INSERT INTO users ({', '.join(columns)}) "
        f"SELECT {', '.join(explicit[c] for c in columns)} {from_clause}"
    )
    binds = [bindparam("ts", type_=table.c.created_at.type)]
    params: dict[str, Any] = {"ts": BENCH_TIME}
    if org_id is not None:
        binds.append(bindparam("org_id", type_=Uuid()))
        params["org_id"] = org_id
    with engine.begin() as conn:
        conn.execute(statement.bindparams(*binds), params)


def insert_rows(engine: Engine, table_name: str, rows: int, *, org_id: uuid.UUID, users: int) -> None:
    """``rows`` rows of one table for an organization whose people are USERS_PREFIX 0 .. users - 1."""
    plans, _ = plan_tables(rows, 0, users)
    plan = plans[table_name]
    plan.rows = rows
    plan.blocks = []
    plan.parents = {}
    sql = _Sql(engine.dialect.name)
    statement, params = _insert_statement(sql, plan, plans, users, org_id, generated_id(USERS_PREFIX, 0))
    with engine.begin() as conn:
        conn.execute(statement, params)
