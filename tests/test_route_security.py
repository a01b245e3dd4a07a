"""Every route, read from the route table: who may call it, and what other organizations see.

New routes are covered without touching this file (a new path parameter needs a maker in
tests/routes.py; a new public route must be listed in PUBLIC).
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.deps import SESSION_COOKIE
from roster.accounts.models import User
from roster.domain.users import Role
from roster.lifecycle.deletion import delete_user
from roster.lifecycle.users import dismiss_user
from roster.scim.tokens import create_scim_token, revoke_scim_token
from tests.factories import auth, make_org, make_user
from tests.routes import OBJECT_MAKERS, SCIM_OBJECT_MAKERS, Route, api_routes, is_page, scim_routes

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


# --- Pages, as a browser asks for them -----------------------------------------------------------

BROWSER = {"Accept": "text/html"}


def _visit(client: TestClient, route: Route, url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """A browser's request, without following redirects (where they lead is what is checked)."""
    return client.request(route.method, url, headers=headers, follow_redirects=False)


def _session_cookie(db: Session, user: User) -> dict[str, str]:
    secret = accounts.issue_token(db, user, kind="session").secret
    return {"Cookie": f"{SESSION_COOKIE}={secret}"}


def test_pages_send_signed_out_visitors_to_sign_in(app: FastAPI, client: TestClient) -> None:
    pages = [r for r in api_routes(app) if is_page(r) and r.access != "public"]
    assert pages
    for route in pages:
        answer = _visit(client, route, _url(route, {}), BROWSER)
        assert answer.status_code in (303, 307), f"{route.method} {route.path}: {answer.status_code}"
        assert answer.headers["location"].startswith("/login"), route.path


def test_admin_pages_refuse_employees(app: FastAPI, client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = {**BROWSER, **auth(db, make_user(db, o.org))}
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    pages = [r for r in api_routes(app) if is_page(r) and r.access == "admin"]
    assert pages
    for route in pages:
        answer = _visit(client, route, _url(route, values), headers)
        assert answer.status_code == 403, f"{route.method} {route.path}: {answer.status_code}"
        assert "text/html" in answer.headers["content-type"]


def test_pages_of_another_organizations_objects_do_not_exist(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    mine = make_org(db)
    theirs = make_org(db)
    values = {name: maker(db, mine) for name, maker in OBJECT_MAKERS.items()}
    headers = {**BROWSER, **auth(db, theirs.admin)}
    for route in api_routes(app):
        if not is_page(route) or route.access == "public" or not route.params:
            continue
        answer = _visit(client, route, _url(route, values), headers)
        assert answer.status_code in ({404, 422} if route.has_body else {404}), (
            f"{route.method} {route.path}: {answer.status_code}"
        )
        assert str(mine.org.id) not in answer.text
        for value in values.values():
            assert value not in answer.text, f"{route.method} {route.path} shows another organization's id"


# --- SCIM --------------------------------------------------------------------------------------------


def test_scim_routes_refuse_a_missing_or_wrong_token(app: FastAPI, client: TestClient, db: Session) -> None:
    routes = scim_routes(app)
    assert routes
    o = make_org(db)
    revoked = create_scim_token(db, o.org.id, actor=o.admin, name="old")
    revoke_scim_token(db, revoked.token, actor=o.admin)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {revoked.secret}"},
        auth(db, o.admin),  # a person's token is not a SCIM token
    ):
        for route in routes:
            answer = _call(client, route, _url(route, {}), headers)
            assert answer.status_code == 401, f"{route.method} {route.path} {headers}: {answer.status_code}"


def test_scim_with_another_organizations_token_finds_none_of_this_organizations_people(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    mine = make_org(db)
    theirs = make_org(db)
    values = {name: maker(db, mine) for name, maker in SCIM_OBJECT_MAKERS.items()}
    token = create_scim_token(db, theirs.org.id, actor=theirs.admin, name="theirs").secret
    headers = {"Authorization": f"Bearer {token}"}
    checked = 0
    for route in scim_routes(app):
        if not set(route.params) & set(SCIM_OBJECT_MAKERS):
            continue
        answer = _call(client, route, _url(route, values), headers)
        assert answer.status_code == 404, f"{route.method} {route.path}: {answer.status_code} {answer.text}"
        checked += 1
    assert checked >= 8
    for listing in ("/scim/v2/Users", "/scim/v2/Groups"):
        answer = client.get(listing, headers=headers)
        assert answer.status_code == 200
        assert not any(value in answer.text for value in values.values())


# --- Tokens and sessions of people who left ------------------------------------------------------


def _refused_everywhere(
    app: FastAPI, client: TestClient, headers: dict[str, str], values: dict[str, str]
) -> None:
    for route in api_routes(app):
        if route.access == "public":
            continue
        answer = _call(client, route, _url(route, values), headers)
        assert answer.status_code == 401, f"{route.method} {route.path}: {answer.status_code} {answer.text}"


def test_a_dismissed_persons_old_token_and_session_are_refused_everywhere(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db)
    person = make_user(db, o.org, role=Role.ADMIN)  # an admin: admin routes must refuse them too
    token, cookie = auth(db, person), _session_cookie(db, person)
    assert client.get("/api/v1/me", headers=token).status_code == 200
    assert client.get("/api/v1/me", headers=cookie).status_code == 200
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    dismiss_user(db, person, actor=o.admin)
    _refused_everywhere(app, client, token, values)
    _refused_everywhere(app, client, cookie, values)


def test_a_deleted_persons_old_token_and_session_are_refused_everywhere(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db)
    person = make_user(db, o.org, role=Role.ADMIN)
    token, cookie = auth(db, person), _session_cookie(db, person)
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    delete_user(db, person, actor=o.admin, confirm=person.email)
    _refused_everywhere(app, client, token, values)
    _refused_everywhere(app, client, cookie, values)
