"""Every route, read from the route table: who may call it, and what other organizations see.

New routes are covered without touching this file (a new path parameter needs a maker in
tests/routes.py; a new public route must be listed in PUBLIC).
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth, make_org, make_user
from tests.routes import OBJECT_MAKERS, Route, api_routes

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("GET", "/api/v1/invitations/lookup"),
    ("POST", "/api/v1/invitations/accept"),
    # Pages a visitor needs before signing in (their forms carry a CSRF token bound to the visitor).
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/reset-password/{reset_token}"),
    ("POST", "/reset-password/{reset_token}"),
    ("GET", "/invite/{invite_token}"),
    ("POST", "/invite/{invite_token}"),
}


def _url(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name in route.params:
        path = path.replace("{" + name + "}", values.get(name, str(uuid.uuid4())))
    return path


def _call(client: TestClient, route: Route, url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    kwargs: dict[str, object] = {"headers": headers}
    if route.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(route.method, url, **kwargs)  # type: ignore[arg-type]


def test_every_public_route_is_meant_to_be_public(app: FastAPI) -> None:
    public = {(r.method, r.path) for r in api_routes(app) if r.access == "public"}
    public = {p for p in public if not p[1].startswith(("/docs", "/openapi", "/redoc"))}
    assert public <= PUBLIC, f"routes without authentication: {sorted(public - PUBLIC)}"


def test_every_path_parameter_has_a_sample_object(app: FastAPI) -> None:
    names = {name for r in api_routes(app) for name in r.params}
    assert names <= set(OBJECT_MAKERS), f"add makers to tests/routes.py: {sorted(names - set(OBJECT_MAKERS))}"


def test_routes_refuse_callers_without_credentials(app: FastAPI, client: TestClient) -> None:
    for route in api_routes(app):
        if route.access == "public":
            continue
        answer = _call(client, route, _url(route, {}), {})
        assert answer.status_code == 401, f"{route.method} {route.path}: {answer.status_code}"
        assert answer.json()["code"] == "unauthorized"


def test_admin_routes_refuse_employees(app: FastAPI, client: TestClient, db: Session) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    headers = auth(db, employee)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    for route in api_routes(app):
        if route.access != "admin":
            continue
        answer = _call(client, route, _url(route, values), headers)
        assert answer.status_code == 403, f"{route.method} {route.path}: {answer.status_code} {answer.text}"
        assert answer.json()["code"] == "forbidden"


def test_another_organizations_objects_do_not_exist(app: FastAPI, client: TestClient, db: Session) -> None:
    mine = make_org(db)
    theirs = make_org(db)
    values = {name: maker(db, mine) for name, maker in OBJECT_MAKERS.items()}
    headers = auth(db, theirs.admin)
    for route in api_routes(app):
        if route.access == "public" or not route.params:
            continue
        answer = _call(client, route, _url(route, values), headers)
        allowed = {404, 422} if route.has_body else {404}
        assert answer.status_code in allowed, (
            f"{route.method} {route.path}: {answer.status_code} {answer.text}"
        )
        assert str(mine.org.id) not in answer.text
