"""The benchmarks' own machinery: the delete baselines do the same work as Roster (identical end
states), and the HTTP harness talks to a real Roster.

Timing is not tested here (benchmarks are not tests); this proves that what ``bench`` compares
Roster's ``delete_user`` against moves the same rows and writes the same authorship map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import scim as scim_bench
from bench.datagen import generate
from bench.delete import end_state, gitlab_delete, orm_delete, raw_delete, roster_delete
from bench.server import Client, serve

from roster.db.engine import make_engine, writer
from roster.references import content_references
from tests.dbutil import DatabaseFactory


def _deleted_with(databases: DatabaseFactory, method: Any) -> tuple[dict[str, Any], int, int]:
    engine = writer(make_engine(databases.new_database()))
    try:
        ds = generate(engine, total_rows=3_000, heavy_refs=600, users=200)  # type: ignore[arg-type]
        result = method(engine, ds)
        return end_state(engine, ds), result[1], ds.heavy_refs  # type: ignore[arg-type]
    finally:
        engine.dispose()  # type: ignore[union-attr]


def test_raw_sql_batched_and_orm_baselines_leave_the_same_end_state_as_roster_delete(
    databases: DatabaseFactory,
) -> None:
    roster, roster_moved, heavy_refs = _deleted_with(databases, roster_delete)

    assert roster_moved == heavy_refs == 600
    assert len(roster["authorship"]) == 600
    assert roster["user"] == ("deleted", None)
    assert all(who == "system" for ref in content_references() for _id, who in roster[ref.kind])
    assert all(len(roster[ref.kind]) > 0 for ref in content_references())
    for method in (raw_delete, gitlab_delete, orm_delete):
        state, moved, _ = _deleted_with(databases, method)
        assert moved == roster_moved, method.__name__
        assert state == roster, method.__name__


def test_the_bench_client_and_server_helper_talk_to_a_real_roster(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    # The HTTP benchmarks (search, SCIM, memory) time requests through these two: the server must
    # be Roster on the given database, and the client must send what it is given.
    url = databases.new_database()
    with serve(url, tmp_path / "var", log=tmp_path / "server.log") as (base, pid):
        assert pid > 0
        with Client(base) as client:
            assert client.get("/readyz").json() == {"status": "ok"}
            refused = client.get("/api/v1/users/autocomplete", params={"q": "Zoë Ørsted"})
            assert refused.status == 401 and refused.json()["code"] == "unauthorized"
            answer = client.post("/api/v1/auth/login", json_body={"email": "nobody@x.test", "password": "x"})
            assert answer.status in (401, 422) and "x-request-id" in answer.headers
            client.close()  # the next request reconnects by itself
            assert client.get("/healthz").status == 200
        with Client(base + "/scim/v2") as scim:
            assert scim.get("/Users").status == 401  # the prefix is kept


@pytest.mark.sqlite_only  # the SCIM benchmark runs Roster on its own SQLite file either way
def test_the_scim_benchmark_sends_every_request_to_every_server_at_once_and_counts_every_worker(
    tmp_path: Path,
) -> None:
    # Under concurrent load Roster runs with one worker process and with one per core: the CPU
    # each reports must be all of its processes', and each server must have been sent exactly the
    # creates and lookups counted.
    with (
        scim_bench.roster_server(tmp_path / "one", name=scim_bench.ONE_WORKER) as one_worker,
        scim_bench.roster_server(tmp_path / "roster", workers=2) as roster,
        scim_bench.reference_server(tmp_path / "peer") as reference,
    ):
        assert len(scim_bench._children(roster.pid)) >= 2
        results = scim_bench.measure_concurrent(
            [one_worker, roster, reference], connections=4, creates=30, lookups=40, chunk=20
        )
        assert set(results) == {scim_bench.ONE_WORKER, "roster", "scim2-server"}
        for server in (one_worker, roster, reference):
            headers = {"Authorization": f"Bearer {server.token}"}
            with Client(server.base_url, headers) as client:
                listed = client.get("/Users", params={"filter": 'userName ew "@bench.test"', "count": 1})
                assert listed.json()["totalResults"] == 30 + (server is not reference)  # Roster's admin
            measured = results[server.name]
            assert measured["creates"] == 30 and measured["lookups"] == 40
            assert measured["creates_per_second"] > 0 and measured["user_name_lookups_per_second"] > 0
        assert (results["roster"]["create_server_cpu_ms"] or 0) > 0
        assert (results[scim_bench.ONE_WORKER]["create_server_cpu_ms"] or 0) > 0


@pytest.mark.sqlite_only  # the replay is through Python's sqlite3 module
def test_the_database_share_replays_the_statements_roster_sends_with_new_values_each_time(
    tmp_path: Path,
) -> None:
    from contextlib import closing

    from bench import scim_floor

    database = tmp_path / "roster.db"
    url = f"sqlite:///{database}"
    org_id, token = scim_bench.bench_organization(database)

    captured = scim_floor.capture(url, token)
    create = [sql.split(" (")[0].split("\n")[0] for sql, _ in captured["create"].statements]
    assert "INSERT INTO users" in create and "INSERT INTO audit_events" in create
    assert any(sql.startswith("UPDATE organizations SET seats_used") for sql in create)
    # A steady stream of requests does not record the token's use (at most once a minute).
    assert not any("SET last_used_at" in sql for sql, _ in captured["create"].statements)

    copy = tmp_path / "copy.db"
    with closing(scim_floor._connect(database)) as source, closing(scim_floor._connect(copy)) as target:
        source.backup(target)
    with closing(scim_floor._connect(copy)) as connection:
        creates = scim_floor.Replayer(captured["create"], org_id.hex)
        for _ in range(3):
            creates.once(connection)
        # token, user, departments: the person the capture made is found, with no departments
        assert scim_floor.Replayer(captured["lookup"], org_id.hex).once(connection) == [1, 1, 0]
        seqs = [row[0] for row in connection.execute("SELECT seq FROM audit_events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # each replay took the next number

    measured = scim_floor.measure(database, token, org_id, tmp_path, creates=20, lookups=20)
    assert measured["create_ms"] > 0 and measured["lookup_ms"] > 0
    assert measured["create_statements"] == len(create) and measured["lookup_statements"] == 3


@pytest.mark.sqlite_only  # the bare server replays through Python's sqlite3 module
def test_the_bare_scim_server_writes_and_finds_each_requests_own_person(tmp_path: Path) -> None:
    from bench.scim_bare import people_written

    with scim_bench.bare_server(tmp_path / "bare") as bare:
        assert bare.pages is False
        with Client(bare.base_url) as refused:
            assert refused.post("/Users", json_body=scim_bench.user_body(1, "x")).status == 401
        with scim_bench.connected(bare) as client:
            side = scim_bench.Side(bare, client)
            for i in range(3):
                side.create(i)
            assert side.names == [f"user{i}.{side.run}@bench.test" for i in range(3)]
            for name in side.names:
                side.lookup(name)  # raises unless exactly this person is found
            missing = client.get("/Users", params={"filter": 'userName eq "user9.nobody@bench.test"'})
            assert missing.status == 200 and missing.json()["Resources"] == []
            created = client.post("/Users", json_body=scim_bench.user_body(7, "y")).json()
            assert created["userName"] == "user7.y@bench.test"
            assert created["name"] == {"givenName": "Given7", "familyName": "Family7"}
    assert people_written(tmp_path / "bare") == 1 + 4  # the captured person, and one per create


@pytest.mark.sqlite_only  # like the bare server, it replays through Python's sqlite3 module
def test_the_rules_scim_server_checks_and_answers_as_roster_and_writes_a_chain_roster_verifies(
    tmp_path: Path,
) -> None:
    # The most any implementation of Roster's create can reach is measured on this server: it
    # must do Roster's own checks (the token, the body) and write what Roster writes, the audit
    # chain included, or its rate would promise more than Roster's rules allow.
    from bench.scim_bare import people_written
    from sqlalchemy import select

    from roster.accounts.models import Organization
    from roster.db.engine import make_engine, make_sessionmaker, transaction
    from roster.lifecycle.audit import verify_chain
    from roster.lifecycle.models import AuditEvent

    with scim_bench.rules_server(tmp_path / "rules") as rules:
        assert rules.pages is False
        with Client(rules.base_url, {"Authorization": "Bearer roster_0_not-a-token-at-all-1234"}) as refused:
            assert refused.post("/Users", json_body=scim_bench.user_body(1, "x")).status == 401
        with scim_bench.connected(rules) as client:
            side = scim_bench.Side(rules, client)
            for i in range(3):
                side.create(i)
            for name in side.names:
                side.lookup(name)
            answer = client.post("/Users", json_body=scim_bench.user_body(7, "y"))
            created = answer.json()
            assert answer.status == 201
            assert created["userName"] == "user7.y@bench.test"
            assert created["emails"] == [{"value": "user7.y@bench.test", "type": "work"}]
            assert answer.headers["etag"] == created["meta"]["version"]
            assert answer.headers["location"] == created["meta"]["location"].rstrip("/")
            assert created["meta"]["location"].endswith(f"/Users/{created['id']}")
    assert people_written(tmp_path / "rules") == 1 + 4
    engine = make_engine(f"sqlite:///{tmp_path / 'rules' / 'bare.db'}")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            org_id = session.scalars(select(Organization.id).where(Organization.slug == "bench")).one()
            verified = verify_chain(session, org_id)
            provisioned = session.scalars(
                select(AuditEvent.details)
                .where(AuditEvent.action == "user.provisioned")
                .order_by(AuditEvent.seq)
            ).all()
    finally:
        engine.dispose()
    assert verified.ok, verified.problems
    assert len(provisioned) == 1 + 4  # the captured person's event, and one per create
    assert provisioned[-1]["email"] == "user7.y@bench.test"
