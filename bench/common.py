"""What every benchmark shares: the machine, database copies, timing, and the results files."""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = ROOT / "var" / "bench"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pg_server_url() -> str:
    """The PostgreSQL server the benchmark creates its databases on (ROSTER_BENCH_PG_URL)."""
    return (
        os.environ.get("ROSTER_BENCH_PG_URL") or os.environ.get("ROSTER_TEST_DATABASE_URL") or DEFAULT_PG_URL
    )


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...; elapsed()`` -> seconds (frozen when the block ends)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


# --- the machine ---------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def database_versions() -> dict[str, str]:
    versions = {"sqlite": sqlite3.sqlite_version}
    try:
        engine = admin_engine()
        with engine.connect() as conn:
            versions["postgresql"] = str(conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    except Exception as exc:  # the report says the server was not reachable
        versions["postgresql"] = f"unavailable ({type(exc).__name__})"
    return versions


# --- databases -----------------------------------------------------------------------------------


def admin_engine() -> Engine:
    return create_engine(
        make_url(pg_server_url()).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=None
    )


@dataclass
class Databases:
    """Named databases of one kind: a template built once, then fresh copies for each timed run."""

    kind: str  # "sqlite" | "postgresql"
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        WORK_DIR.mkdir(parents=True, exist_ok=True)

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{WORK_DIR / (name + '.db')}"
        return make_url(pg_server_url()).set(database=name).render_as_string(hide_password=False)

    def new_name(self, label: str) -> str:
        return f"roster_bench_{self.run_id}_{label}_{secrets.token_hex(2)}"

    def create_empty(self, label: str) -> str:
        """A fresh database migrated to head; returns its name."""
        from roster.db.migrate import upgrade

        name = self.new_name(label)
        if self.kind == "sqlite":
            self._remove_sqlite(name)
        else:
            self._pg(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        upgrade(self.url(name))
        return name

    def copy(self, template: str, label: str, *, name: str | None = None) -> str:
        """A fresh copy of ``template`` (file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL)."""
        name = name or self.new_name(label)
        if self.kind == "sqlite":
            src = WORK_DIR / (template + ".db")
            checkpoint_sqlite(src)
            self._remove_sqlite(name)
            shutil.copyfile(src, WORK_DIR / (name + ".db"))
        else:
            self._pg(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        if self.kind == "sqlite":
            self._remove_sqlite(name)
        else:
            self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(reversed(self.created)):
            try:
                self.drop(name)
            except Exception as exc:
                log(f"could not drop {name}: {exc}")

    def size_bytes(self, name: str) -> int:
        if self.kind == "sqlite":
            return sum(
                p.stat().st_size
                for p in (WORK_DIR / (name + suffix) for suffix in (".db", ".db-wal"))
                if p.exists()
            )
        engine = admin_engine()
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(:n)"), {"n": name}).scalar()
        engine.dispose()
        return int(size or 0)

    def _remove_sqlite(self, name: str) -> None:
        for suffix in (".db", ".db-wal", ".db-shm"):
            (WORK_DIR / (name + suffix)).unlink(missing_ok=True)

    def _pg(self, sql: str) -> None:
        engine = admin_engine()
        with engine.connect() as conn:
            conn.execute(text(sql))
        engine.dispose()


def checkpoint_sqlite(path: Path) -> None:
    """Fold the WAL into the main file so a file copy is the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def analyze(engine: Engine) -> None:
    """The planner statistics a database in service has: on PostgreSQL fresh ones, as autovacuum
    keeps them; on SQLite none, as Roster never runs ANALYZE there (see the README's "SQLite without
    planner statistics")."""
    if engine.dialect.name == "sqlite":
        return
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        conn.commit()


# --- results -------------------------------------------------------------------------------------


def write_result(section: str, payload: dict[str, Any]) -> Path:
    """Write one section's results as ``bench/results/<section>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{section}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def read_results() -> dict[str, dict[str, Any]]:
    if not RESULTS_DIR.exists():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return out


def target(value: float | None, limit: float, *, higher_is_better: bool = False) -> dict[str, Any]:
    """A figure with its target and whether it is met."""
    met = None if value is None else value >= limit if higher_is_better else value <= limit
    return {"value": value, "target": limit, "higher_is_better": higher_is_better, "met": met}
