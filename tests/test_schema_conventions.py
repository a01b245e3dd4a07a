"""The schema stays distributable by organization."""

from __future__ import annotations

from sqlalchemy import Table, UniqueConstraint

from roster.db.models import Base

GLOBAL_TABLES = {"organizations"}


def tenant_tables() -> list[Table]:
    return [t for name, t in Base.metadata.tables.items() if name not in GLOBAL_TABLES]


def test_every_table_but_organizations_is_a_tenant_table() -> None:
    for table in tenant_tables():
        assert "org_id" in table.columns, f"{table.name} has no org_id"


def test_every_tenant_primary_key_starts_with_org_id() -> None:
    for table in tenant_tables():
        pk = [c.name for c in table.primary_key.columns]
        assert pk[0] == "org_id", f"{table.name} primary key is {pk}"


def test_every_tenant_unique_key_includes_org_id() -> None:
    for table in tenant_tables():
        uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
        uniques += [i for i in table.indexes if i.unique]  # type: ignore[misc]
        for unique in uniques:
            names = [c.name for c in unique.columns]
            assert "org_id" in names, f"{table.name}: unique key {names} lacks org_id"


def test_every_tenant_foreign_key_to_another_tenant_table_includes_org_id() -> None:
    for table in tenant_tables():
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name in GLOBAL_TABLES:
                continue
            assert "org_id" in fk.column_keys, (
                f"{table.name}: foreign key {fk.column_keys} -> {fk.referred_table.name} lacks org_id"
            )
