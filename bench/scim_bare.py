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

With ``rules`` on (``serve_bare(workdir, rules=True)``), the same server also does, with Roster's
own functions, the work Roster's rules require of every create beyond its statements, and no
other: the bearer token checked (its hash, and the token's row read before the write), the body
read as JSON and checked (``service.read_user``), the person's search keys, the audit event's
digests and chained hash (written into the event and the chain's head), and the answer rendered
(``service.user_resource``, with its ETag) with its ``Location`` and ``ETag`` headers. That is a
create path with Roster's rules and nothing else: no framework, no ORM, no session, no error
handling. Its rate is the most that any implementation of Roster's create can reach on this
HTTP server and database; lookups it answers as the bare server does, after the same token check.

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
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from bench.server import ROOT, free_port, stop, wait_until_up
from roster import accounts, clock
from roster.accounts.security import hash_secret, split_secret
from roster.directory.keys import search_key_values
from roster.lifecycle import audit
from roster.scim import service
from roster.scim.api import parse_body

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
        status, answer, headers = self.respond(scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def respond(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The status, body and headers of the answer to one request."""
        return (*self.answer(scope, body), _HEADERS)

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


_INSERT_COLUMNS = re.compile(r"^INSERT INTO (\w+) \(([^)]*)\)")


class RulesServer(BareServer):
    """The bare server doing, besides, what Roster's rules require of a create (see the module's
    docstring), each step with Roster's own function."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        statements = self.create.captured.statements
        # The token's read is the captured create's first statement; Roster reads it before the
        # write, on a connection of its own, and so does this server.
        if not statements[0][0].startswith("SELECT scim_tokens."):
            raise RuntimeError("the captured create does not begin with the token's read")
        self.token_read = statements[0][0]
        self.writes = statements[1:]
        self.columns = {
            i: [name.strip() for name in found.group(2).split(",")]
            for i, (sql, _) in enumerate(self.writes)
            if (found := _INSERT_COLUMNS.match(sql)) is not None
        }
        self.user_hex = uuid.UUID(json.loads(self.create.captured.answer)["id"]).hex
        self.lookup_statements = self.lookup.captured.statements[1:]  # after the token's read

    def _token(self, scope: dict[str, Any]) -> str | None:
        """The id of the live token the request presents (as ``roster.scim.api._token`` finds it)."""
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        kind, _, secret = header.partition(" ")
        org_id = split_secret(secret.strip()) if kind.lower() == "bearer" else None
        if org_id is None:
            return None
        row = self.connection.execute(self.token_read, (org_id.hex, hash_secret(secret.strip()))).fetchone()
        return None if row is None else str(uuid.UUID(hex=row[0]))

    def respond(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        token_id = self._token(scope)
        if token_id is None:
            return 401, b'{"status":"401"}', _HEADERS
        if scope["path"] == "/healthz":
            return 200, b'{"status":"ok"}', _HEADERS
        if scope["path"] != "/Users":
            return 404, b'{"status":"404"}', _HEADERS
        if scope["method"] == "POST":
            return self.created(scope, body, token_id)
        wanted = _FILTER.match(parse_qs(scope["query_string"].decode()).get("filter", [""])[0])
        rename = self._rename(wanted.group(1)) if wanted else None
        if rename is None:
            return 200, self.empty_list, _HEADERS
        found = self._replay_lookup(rename)
        return 200, rename(self.lookup.captured.answer).encode() if found else self.empty_list, _HEADERS

    def _replay_lookup(self, rename: Callable[[str], str]) -> int:
        """The lookup's statements after the token's read, in one transaction; the rows the one
        that finds the person answered."""
        ids: dict[str, str] = {}
        found = 0
        self.connection.execute("BEGIN")
        for i, (sql, params) in enumerate(self.lookup_statements, start=1):
            rows = self.connection.execute(sql, self.lookup._values(params, ids, rename)).fetchall()
            if i == self.finds:
                found = len(rows)
        self.connection.execute("COMMIT")
        return found

    def created(
        self, scope: dict[str, Any], body: bytes, token_id: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        data = service.read_user(parse_body(body, content_type))
        rename = self._rename(data.user_name)
        if rename is None:
            return 400, b'{"status":"400"}', _HEADERS
        display = data.display_name or accounts.compose_display_name(
            data.given_name, data.family_name, data.email.split("@")[0]
        )
        keys = search_key_values(
            first_name=data.given_name, last_name=data.family_name, display_name=display, email=data.email
        )
        now = clock.now()
        stored_now = now.replace(tzinfo=None).isoformat(sep=" ")
        details = {"via": "scim", "email": data.email, "role": "employee", "scim_token_id": token_id}
        org_id = uuid.UUID(hex=self.create.org_hex)
        made: dict[str, Any] = {}

        def fill(i: int, values: list[Any], ids: dict[str, str], chain: tuple[int, str]) -> None:
            columns = self.columns.get(i)
            sql = self.writes[i][0]
            if columns is not None and sql.startswith("INSERT INTO users "):
                row = dict(zip(columns, values, strict=True))
                row.update(keys, created_at=stored_now, updated_at=stored_now)
                values[:] = row.values()
            elif columns is not None and sql.startswith("INSERT INTO audit_events "):
                row = dict(zip(columns, values, strict=True))
                seq, prev = chain
                plain = audit._plain(details)
                personal = audit.personal_digest_of("System", display, plain)
                digest = audit.event_hash(
                    prev_hash=prev,
                    org_id=org_id,
                    event_id=uuid.UUID(hex=row["id"]),
                    seq=seq,
                    created_at=now,
                    action="user.provisioned",
                    actor_id=None,
                    subject_id=uuid.UUID(hex=ids[self.user_hex]),
                    personal_digest=personal,
                )
                row.update(
                    seq=seq,
                    created_at=stored_now,
                    details=json.dumps(plain),
                    personal_digest=personal,
                    prev_hash=prev,
                    hash=digest,
                )
                values[:] = row.values()
                made["head"] = digest
            elif sql.startswith("UPDATE organizations SET audit_head"):
                values[0] = made["head"]

        ids = self._replay_create(rename, fill)
        person = SimpleNamespace(
            id=uuid.UUID(hex=ids[self.user_hex]),
            org_id=org_id,
            external_id=data.external_id,
            scim_user_name=data.user_name,
            email=data.email,
            first_name=data.given_name,
            last_name=data.family_name,
            display_name=display,
            position=data.title,
            status="active",
            scim_email_type=data.email_type,
            employee_number=data.employee_number,
            scim_department=data.department,
            manager_id=data.manager_id,
            timezone=data.timezone,
            created_at=now,
            updated_at=now,
        )
        host = dict(scope["headers"]).get(b"host", b"localhost").decode("latin-1")
        context = SimpleNamespace(
            base_url=f"{scope['scheme']}://{host}{scope.get('root_path', '')}", org_id=org_id
        )
        resource = service.user_resource(context, person, service.UserExtras())  # type: ignore[arg-type]
        headers = [
            *_HEADERS,
            (b"etag", resource["meta"]["version"].encode()),
            (b"location", resource["meta"]["location"].encode()),
        ]
        return 201, json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode(), headers

    def _replay_create(
        self,
        rename: Callable[[str], str],
        fill: Callable[[int, list[Any], dict[str, str], tuple[int, str]], None],
    ) -> dict[str, str]:
        """The create's writes in one transaction, ``fill`` putting each statement's own values in
        (given the audit chain's next number and head, once its UPDATE has handed them out); the
        ids it made (captured id -> new one)."""
        ids: dict[str, str] = {}
        chain = (0, audit.GENESIS)
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            for i, (sql, params) in enumerate(self.writes):
                values = self.create._values(params, ids, rename)
                fill(i, values, ids, chain)
                answered = self.connection.execute(sql, values).fetchall()
                if "RETURNING audit_seq" in sql:
                    chain = (int(answered[0][0]), answered[0][1] or audit.GENESIS)
            self.connection.execute("COMMIT")
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        return ids


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
    config = json.loads(Path(os.environ[CONFIG]).read_text())
    return RulesServer(config) if config.get("rules") else BareServer(config)


@contextmanager
def serve_bare(workdir: Path, *, rules: bool = False) -> Iterator[tuple[str, str, int]]:
    """The bare server on a database of its own in ``workdir`` (made as Roster's benchmark
    database is, with the create and lookup captured from Roster's service code on it); yields
    its base URL, its token and its process id. With ``rules``, the server that also does what
    Roster's rules require (``RulesServer``), with the organization's own SCIM token."""
    from bench.scim import bench_organization
    from bench.scim_floor import capture

    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bare.db"
    org_id, token = bench_organization(database)
    captured = capture(f"sqlite:///{database}", token)
    config = workdir / "bare.json"
    bare_token = token if rules else secrets.token_hex(24)
    config.write_text(
        json.dumps(
            {
                "database": str(database),
                "token": bare_token,
                "rules": rules,
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
