"""Migrations keep the data: going down and up again leaves every row where it was."""

from __future__ import annotations

from sqlalchemy import func, select

from roster.db.base import Base
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.db.migrate import downgrade, upgrade
from tests.dbutil import DatabaseFactory
from tests.factories import make_org, make_user

# Down past the migrations whose downgrades rebuild the users table (0005) and the organizations
# table (0014) on SQLite, which copies a table and drops the old one, and up again through them.
DOWN_TO = "0004"


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = ("organizations", "users", "audit_events", "department_members", "departments")
            return {
                name: int(
                    conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one()
                )
                for name in names
            }
    finally:
        engine.dispose()


def test_down_and_up_again_keeps_every_row(databases: DatabaseFactory) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            for _ in range(2):
                o = make_org(session)
                for _ in range(3):
                    make_user(session, o.org)
    finally:
        engine.dispose()
    before = _counts(url)
    assert before["users"] >= 10 and before["organizations"] == 2
    downgrade(url, DOWN_TO)
    upgrade(url)
    assert _counts(url) == before
