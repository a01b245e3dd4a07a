"""A bare SCIM server, for reading Roster's SCIM rates against what the HTTP server and the
database allow by themselves.

It answers a create (``POST /Users``) and a ``userName eq`` lookup (``GET /Users?filter=...``) the
way the floor in ``bench/scim_floor.py`` measures them: the statements Roster's service code sent
for one such request are sent again through the standard library's ``sqlite3`` module, on a
database of its own with Roster's schema and connection settings, one transaction per request,
with the request's own person written and found. The answer is the body Roster rendered for the
captured request, with the request's person put in. There is nothing else: no framework, no
ORM, no validation, no rules beyond the captured statements, a token compared as a string. It is
a plain ASGI application under the same uvicorn, measured by the same client in the same turns
as Roster and the peer, so what Roster takes beyond it is what Roster's own code costs over HTTP.

``serve_bare(workdir)`` starts it (``uvicorn --factory bench.scim_bare:from_environment``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bench.server import ROOT, free_port, stop, wait_until_up

CONFIG = "ROSTER_BENCH_BARE"
# The benchmark's people: user_body(i, run) names person i of a run user{i}.{run}@bench.test.
_PERSON = re.compile(r"^user(\d+)\.([^@]+)@bench\.test$")
_FILTER = re.compile(r'^userName eq "([^"]+)"$')
_HEADERS = [(b"content-type", b"application/scim+json")]


class BareServer:
    """The ASGI application: one ``sqlite3`` connection, the captured create and lookup."""

    def __init__(self, config: dict[str, Any]) -> None:
        from bench.scim_floor import Captured, Replayer, _connect

        self.authorization = f"Bearer {config['token']}".encode()
        self.connection = _connect(Path(config["database"]))
        captured = {kind: Captured(**config["captured"][kind]) for kind in ("create", "lookup")}
        self.create = Replayer(captured["create"], config["org_hex"])
        self.lookup = Replayer(captured["lookup"], config["org_hex"])
        self.marker = captured["create"].marker
        # The lookup's statement that finds the person (its rows are the answer's).
        self.finds = next(
            i for i, (sql, _) in enumerate(captured["lookup"].statements) if sql.startswith("SELECT users.")
        )
        self.empty_list = json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 0,
                "itemsPerPage": 0,
                "startIndex": 1,
                "Resources": [],
            }
        ).encode()

    def _rename(self, user_name: str) -> Callable[[str], str] | None:
        """How the captured person's texts become those of the person named ``user_name``."""
        person = _PERSON.match(user_name)
        if person is None:
            return None
        number, run = person.groups()
        pairs = ((f"{self.marker}.floor", f"{number}.{run}"), (self.marker, number))

        def rename(value: str) -> str:
            for old, new in pairs:
                value = value.replace(old, new)
            return value

        return rename

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self.connection.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, answer = self.answer(scope, body)
        await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": answer})

    def answer(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
        if dict(scope["headers"]).get(b"authorization") != self.authorization:
            return 401, b'{"status":"401"}'
        if scope["path"] == "/healthz":
            return 200, b'{"status":"ok"}'
        if scope["path"] != "/Users":
            return 404, b'{"status":"404"}'
        if scope["method"] == "POST":
            rename = self._rename(json.loads(body)["userName"])
            if rename is None:
                return 400, b'{"status":"400"}'
            self.create.once(self.connection, rename)
            return 201, rename(self.create.captured.answer).encode()
        wanted = _FILTER.match(parse_qs(scope["query_string"].decode()).get("filter", [""])[0])
        rename = self._rename(wanted.group(1)) if wanted else None
        if rename is None:
            return 200, self.empty_list  # the client's first request warms the connection
        found = self.lookup.once(self.connection, rename)[self.finds]
        return 200, rename(self.lookup.captured.answer).encode() if found else self.empty_list


def people_written(workdir: Path) -> int:
    """How many of the benchmark's people (``user...@bench.test``) the bare server's database holds,
    the captured one included."""
    from bench.scim_floor import _connect

    connection = _connect(workdir / "bare.db")
    try:
        return int(
            connection.execute("SELECT count(*) FROM users WHERE email LIKE 'user%@bench.test'").fetchone()[0]
        )
    finally:
        connection.close()


def from_environment() -> BareServer:
    """The application, configured by the JSON file the environment names (uvicorn's factory)."""
    return BareServer(json.loads(Path(os.environ[CONFIG]).read_text()))


@contextmanager
def serve_bare(workdir: Path) -> Iterator[tuple[str, str, int]]:
    """The bare server on a database of its own in ``workdir`` (made as Roster's benchmark
    database is, with the create and lookup captured from Roster's service code on it); yields
    its base URL, its token and its process id."""
    from bench.scim import bench_organization
    from bench.scim_floor import capture

    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bare.db"
    org_id, token = bench_organization(database)
    captured = capture(f"sqlite:///{database}", token)
    config = workdir / "bare.json"
    bare_token = secrets.token_hex(24)
    config.write_text(
        json.dumps(
            {
                "database": str(database),
                "token": bare_token,
                "org_hex": uuid.UUID(str(org_id)).hex,
                "captured": {kind: asdict(c) for kind, c in captured.items()},
            }
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.scim_bare:from_environment"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    log = workdir / "bare.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, CONFIG: str(config)}, stdout=out, stderr=out
        )
    try:
        wait_until_up(base + "/healthz", process, headers={"Authorization": f"Bearer {bare_token}"}, log=log)
        yield base, bare_token, process.pid
    finally:
        stop(process)
