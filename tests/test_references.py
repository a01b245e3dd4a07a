"""Every column that points at a user is declared in the one registry."""

from __future__ import annotations

from sqlalchemy import Connection, inspect

from roster.references import Disposition, Handling, all_references


def test_every_foreign_key_to_users_in_the_migrated_schema_is_registered(connection: Connection) -> None:
    registered = {(r.table, r.column) for r in all_references()}
    inspector = inspect(connection)
    missing = []
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            if fk["referred_table"] != "users":
                continue
            for column in fk["constrained_columns"]:
                if column != "org_id" and (table, column) not in registered:
                    missing.append(f"{table}.{column}")
    assert missing == [], f"register these user references in roster.references: {missing}"


def test_every_registered_reference_names_a_real_column(connection: Connection) -> None:
    inspector = inspect(connection)
    for ref in all_references():
        columns = {c["name"] for c in inspector.get_columns(ref.table)}
        assert ref.column in columns, f"{ref.kind}: {ref.table}.{ref.column} does not exist"
        if ref.hide_column:
            assert ref.hide_column in columns, f"{ref.kind}: no {ref.hide_column} on {ref.table}"


def test_content_references_default_to_a_disposition_they_allow() -> None:
    for ref in all_references():
        if ref.handling is Handling.CONTENT:
            assert ref.default_disposition in ref.dispositions
            assert ref.kind.count(".") == 2, f"kind {ref.kind} is not module.object.role"
        else:
            assert Disposition.SUCCESSOR not in ref.dispositions
