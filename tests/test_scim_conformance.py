"""SCIM conformance, measured by scim2-tester (a suite nobody here wrote) against a real server.

Roster runs as a uvicorn process on a free loopback port with a fresh database; an organization on
the unlimited plan gets a SCIM token; every check the tester runs must be a success (a skipped
check fails too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scim2_client import BaseSyncSCIMClient
from scim2_client.errors import RequestNetworkException
from scim2_tester import Status, check_server

from roster.accounts.service import create_organization
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.scim.tokens import create_scim_token
from tests.dbutil import DatabaseFactory
from tests.liveserver import LiveServer


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client over httpx (the project's HTTP client), for a server on the network."""

    def __init__(self, client: httpx.Client, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.client.base_url
        try:
            url = self.client.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        same_origin = (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
        return same_origin and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.RequestError as exc:
            error = RequestNetworkException()
            error.add_note(str(exc))
            raise error from exc


def make_scim_organization(database_url: str, slug: str = "acme") -> str:
    """An organization on the unlimited plan and a SCIM token for it; returns the token."""
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            org, admin = create_organization(
                session,
                slug=slug,
                name="Acme Ltd",
                plan="enterprise",
                admin_email=f"admin@{slug}.test",
                admin_password="S3cure-pass!word",
            )
            return create_scim_token(session, org.id, actor=admin, name="conformance").secret
    finally:
        engine.dispose()


@pytest.fixture
def scim_server(databases: DatabaseFactory, tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = databases.new_database()
    token = make_scim_organization(url)
    server = LiveServer(url, tmp_path / "live", ROSTER_BACKGROUND_WORKERS="false").start()
    try:
        yield f"{server.url}/scim/v2", token
    finally:
        server.stop()


def test_scim2_tester_reports_every_check_as_a_success(scim_server: tuple[str, str]) -> None:
    base_url, token = scim_server
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        results = check_server(HttpxSCIMClient(http))
    assert len(results) > 70, f"the tester ran only {len(results)} checks"
    failures = [
        f"{r.status.name} {r.resource_type or ''} {r.title}: {r.reason}"
        for r in results
        if r.status is not Status.SUCCESS
    ]
    assert failures == [], "\n".join(failures)
    titles = {r.title for r in results}
    for expected in ("object_creation", "object_query", "check_replace_attribute", "object_deletion"):
        assert expected in titles


def test_the_tester_fails_a_server_without_a_valid_token(scim_server: tuple[str, str]) -> None:
    base_url, _ = scim_server
    with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer nope"}, timeout=30) as http:
        results = check_server(HttpxSCIMClient(http))
    assert any(r.status is not Status.SUCCESS for r in results)


def test_concurrent_creates_of_one_user_name_give_one_user_and_409s_never_5xx(
    scim_server: tuple[str, str],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    base_url, token = scim_server
    headers = {"Authorization": f"Bearer {token}"}

    def create(i: int) -> int:
        body = {"userName": "Race.Person@x.test", "emails": [{"value": f"race{i}@x.test"}]}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            return http.post("/Users", json=body).status_code

    def read(i: int) -> int:
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            return http.get("/Users", params={"filter": 'userName eq "race.person@x.test"'}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        creates = [pool.submit(create, i) for i in range(8)]
        reads = [pool.submit(read, i) for i in range(8)]
        created = sorted(f.result() for f in creates)
        read_codes = {f.result() for f in reads}
    assert created == [201] + [409] * 7
    assert read_codes == {200}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        found = http.get("/Users", params={"filter": 'userName eq "RACE.PERSON@X.TEST"'}).json()
    assert found["totalResults"] == 1
