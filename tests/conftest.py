"""Fixtures: a real database (SQLite, or PostgreSQL with ROSTER_TEST_DATABASE_URL) built by the
migrations; each test in a transaction rolled back at the end; an app bound to that transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from roster import clock
from roster.app import create_app
from roster.db.engine import make_engine, make_sessionmaker
from roster.settings import Settings
from tests.dbutil import DatabaseFactory, is_postgres


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    postgres = is_postgres()
    slow = os.environ.get("ROSTER_SLOW_TESTS") == "1"
    for item in items:
        if "postgres_only" in item.keywords and not postgres:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only (set ROSTER_TEST_DATABASE_URL)"))
        if "sqlite_only" in item.keywords and postgres:
            item.add_marker(pytest.mark.skip(reason="SQLite only"))
        if "slow" in item.keywords and not slow:
            item.add_marker(pytest.mark.skip(reason="heavy run; set ROSTER_SLOW_TESTS=1"))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: DatabaseFactory) -> str:
    return databases.new_database()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back when the test ends."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session in the test's transaction; its commits are savepoints."""
    session = make_sessionmaker(connection)()
    yield session
    session.close()


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "var",
        "secret_key": "test-secret-key-not-for-production",
        "base_url": "http://testserver",
        "background_workers": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(connection: Connection, settings: Settings) -> FastAPI:
    return create_app(settings, bind=connection)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
