"""PostgreSQL restarted under load: the server answers 503 while it is gone and recovers by itself.

The test runs its own PostgreSQL cluster (initdb into a temporary folder, its own port), so stopping
it disturbs nothing else.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from roster.db.engine import make_engine, make_sessionmaker, transaction
from roster.db.migrate import upgrade
from tests.factories import PASSWORD, make_org
from tests.liveserver import LiveServer, free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(PG_BIN is None or shutil.which("runuser") is None, reason="needs PostgreSQL binaries"),
]


class PrivateCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def init(self) -> None:
        shutil.chown(self.root, "postgres")
        self._pg(f"{PG_BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(
            f"{PG_BIN}/pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._pg(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    # Not under pytest's tmp folder: the postgres user cannot enter root's private folders.
    root = Path(tempfile.mkdtemp(prefix="roster-pg-"))
    pg = PrivateCluster(root)
    pg.init()
    pg.start()
    yield pg
    with contextlib.suppress(subprocess.CalledProcessError):
        pg.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_the_server_answers_503_while_postgresql_is_down_and_recovers_by_itself(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    upgrade(cluster.url)
    engine = make_engine(cluster.url)
    with transaction(make_sessionmaker(engine)) as session:
        o = make_org(session, slug="outage")
    engine.dispose()
    server = LiveServer(cluster.url, tmp_path / "var").start()
    try:
        login = httpx.post(
            server.url + "/api/v1/auth/login",
            json={"organization": "outage", "email": o.admin.email, "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(timeout=15) as client:
                while not stop.is_set():
                    statuses[client.get(server.url + "/api/v1/me", headers=headers).status_code] += 1

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(0.5)
        cluster.stop()
        time.sleep(1.0)
        down_me = httpx.get(server.url + "/api/v1/me", headers=headers, timeout=15)
        down_ready = httpx.get(server.url + "/readyz", timeout=15)
        cluster.start()
        recovered = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = httpx.get(server.url + "/api/v1/me", headers=headers, timeout=15)
            if answer.status_code == 200:
                recovered = answer
                break
            time.sleep(0.2)
        stop.set()
        worker.join(timeout=30)

        assert down_me.status_code == 503, down_me.text
        assert down_me.headers["content-type"] == "application/problem+json"
        assert down_me.json()["code"] == "unavailable"
        assert down_ready.status_code == 503
        assert recovered is not None, "the server did not recover without a restart"
        assert httpx.get(server.url + "/readyz").status_code == 200
        # Under load, every answer was either a success or a clean 503: never a 500, never a hang.
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[200] > 0 and statuses[503] > 0, statuses
    finally:
        server.stop()
