"""Test databases: one migrated template per run, copied for each database a test needs.

SQLite copies the template file; PostgreSQL uses ``CREATE DATABASE ... TEMPLATE``. Names carry a
random part, so several test runs (and developers) can share one PostgreSQL server.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from roster.db.migrate import upgrade


def server_url() -> str | None:
    return os.environ.get("ROSTER_TEST_DATABASE_URL") or None


def is_postgres() -> bool:
    url = server_url()
    return url is not None and make_url(url).get_backend_name() == "postgresql"


def _admin_engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


class DatabaseFactory:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run_id = secrets.token_hex(4)
        self.created: list[str] = []
        self.template = self._make_template()

    def _make_template(self) -> str:
        base = server_url()
        if base and make_url(base).get_backend_name() == "postgresql":
            name = f"roster_t_{self.run_id}_tpl"
            self._create_pg(name)
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            return name
        path = self.workdir / "template.db"
        upgrade(f"sqlite:///{path}")
        return str(path)

    def _create_pg(self, name: str, template: str | None = None) -> None:
        engine = _admin_engine(server_url() or "")
        with engine.connect() as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        engine.dispose()
        self.created.append(name)

    def new_database(self) -> str:
        """A fresh, migrated database; returns its URL."""
        base = server_url()
        if base and make_url(base).get_backend_name() == "postgresql":
            name = f"roster_t_{self.run_id}_{secrets.token_hex(4)}"
            self._create_pg(name, template=self.template)
            return make_url(base).set(database=name).render_as_string(hide_password=False)
        path = self.workdir / f"db-{secrets.token_hex(4)}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        base = server_url()
        if not (base and make_url(base).get_backend_name() == "postgresql"):
            return
        engine = _admin_engine(base)
        with engine.connect() as conn:
            for name in reversed(self.created):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
