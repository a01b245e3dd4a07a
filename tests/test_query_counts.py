"""Every page and every GET of the API loads what it shows in a number of statements that does not
grow with the organization: no statement per row (an N+1), whatever the route.

The routes are read from the app, as the security tests read them, so a new list or page is held
to this without being named here. Each is measured as an admin with a little data, then again after
the organization has grown several times over (more people, and more of every kind of work), and
the two counts must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.domain.users import Role
from roster.settings import Settings
from tests.deletion_support import make_busy
from tests.factories import OrgWithAdmin, make_org, make_user
from tests.routes import OBJECT_MAKERS, Route, api_routes

# Routes whose work is meant to grow with what they return, each with why.
GROWS_ON_PURPOSE = {
    "/api/v1/audit/export.csv": "streams the whole log, in chunks",
}


def _gets(app: FastAPI) -> list[Route]:
    return [
        r
        for r in api_routes(app)
        if r.method == "GET" and r.access != "public" and r.path not in GROWS_ON_PURPOSE
    ]


@pytest.fixture
def counted(connection: Connection) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    yield statements
    event.remove(connection, "before_cursor_execute", count)


def _grow(client: TestClient, db: Session, o: OrgWithAdmin, people: list[User], rounds: int) -> None:
    """More people, each busy in every module, and the admin busy too."""
    for _ in range(3):
        person = make_user(db, o.org)
        people.append(person)
    for person in people:
        make_busy(client, db, person, [p for p in people if p is not person][:2] or [o.admin], rounds=rounds)
    make_busy(client, db, o.admin, people[:2], rounds=rounds)
    db.flush()


def test_no_route_loads_a_statement_per_row(
    client: TestClient, app: FastAPI, db: Session, settings: Settings, counted: list[str]
) -> None:
    o = make_org(db, plan="enterprise")
    people = [make_user(db, o.org, role=Role.ADMIN), make_user(db, o.org)]
    _grow(client, db, o, people, rounds=1)
    routes = _gets(app)
    ids = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    db.flush()
    secret = accounts.issue_token(db, o.admin, kind="session").secret
    client.cookies.set("roster_session", secret)

    def measure() -> dict[str, tuple[int, int]]:
        found = {}
        for route in routes:
            path = route.path
            for name in route.params:
                path = path.replace(f"{{{name}}}", ids[name])
            counted.clear()
            answer = client.get(path, headers={"Accept": "text/html"} if not path.startswith("/api/") else {})
            found[route.path] = (answer.status_code, len(counted))
        return found

    measure()  # the first view records the session's use and warms what every page loads once
    few = measure()
    _grow(client, db, o, people, rounds=3)
    many = measure()

    grew = {path: (few[path], many[path]) for path in few if few[path][1] != many[path][1]}
    assert not grew, f"(status, statements) with little data, then with more: {grew}"
    assert all(status < 500 for status, _ in many.values()), many
