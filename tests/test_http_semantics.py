"""HTTP as its clients expect it, on every route read from the route table: a 401 says how to
authenticate (RFC 6750).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.deps import SESSION_COOKIE
from roster.accounts.models import User
from roster.domain.users import Role
from roster.lifecycle.users import dismiss_user
from tests.factories import PASSWORD, auth, make_org, make_user
from tests.routes import (
    OBJECT_MAKERS,
    Route,
    api_routes,
    is_page,
)

API = "/api/v1"
CHALLENGE = 'Bearer realm="roster"'
INVALID_TOKEN = 'Bearer realm="roster", error="invalid_token"'
BROWSER = {"Accept": "text/html"}


def _url(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name in route.params:
        path = path.replace("{" + name + "}", values.get(name, str(uuid.uuid4())))
    return path


def _session_cookie(db: Session, user: User) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={accounts.issue_token(db, user, kind='session').secret}"}


def _api_routes(app: FastAPI) -> list[Route]:
    return [r for r in api_routes(app) if not is_page(r)]


# --- 401: WWW-Authenticate ----------------------------------------------------------------------


def test_every_401_of_the_api_says_how_to_authenticate(app: FastAPI, client: TestClient, db: Session) -> None:
    o = make_org(db)
    stale_cookie = _session_cookie(db, o.admin)
    accounts.revoke_all_tokens(db, o.admin)
    routes = [r for r in _api_routes(app) if r.access != "public"]
    assert len(routes) > 50
    for route in routes:
        for headers, challenge in (
            ({}, CHALLENGE),
            (stale_cookie, CHALLENGE),  # a cookie is no bearer token: only the realm (RFC 6750 §3)
            ({"Authorization": "Bearer not-a-token"}, INVALID_TOKEN),
            ({"Authorization": "Bearer " + "x" * 4000}, INVALID_TOKEN),
        ):
            body = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(route.method, _url(route, {}), headers=headers, **body)  # type: ignore[arg-type]
            where = f"{route.method} {route.path} {sorted(headers)}"
            assert answer.status_code == 401, f"{where}: {answer.status_code}"
            assert answer.headers.get("www-authenticate") == challenge, f"{where}: {answer.headers}"
    page = client.get("/people", headers=BROWSER, follow_redirects=False)  # pages: sign in, as before
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_token_that_expired_was_revoked_or_whose_person_left_is_an_invalid_token(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    o = make_org(db)
    expiring = accounts.issue_token(db, o.admin, kind="bearer", lifetime=timedelta(minutes=5)).secret
    revoked = accounts.issue_token(db, o.admin, kind="pat", name="old")
    accounts.revoke_token(db, revoked.token)
    leaver = make_user(db, o.org, role=Role.ADMIN)
    leavers = auth(db, leaver)
    dismiss_user(db, leaver, actor=o.admin)
    clock.advance(timedelta(minutes=10))
    values = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    routes = [r for r in _api_routes(app) if r.access != "public"]
    for headers in (
        {"Authorization": f"Bearer {expiring}"},
        {"Authorization": f"Bearer {revoked.secret}"},
        leavers,
    ):
        for route in routes:
            body = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
            answer = client.request(route.method, _url(route, values), headers=headers, **body)  # type: ignore[arg-type]
            assert answer.status_code == 401, f"{route.method} {route.path}: {answer.status_code}"
            assert answer.headers["www-authenticate"] == INVALID_TOKEN, f"{route.method} {route.path}"
            assert answer.json()["code"] == "unauthorized"


def test_wrong_credentials_at_sign_in_carry_the_challenge_without_an_error(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):  # a token beside a sign-in is not at fault
        answer = client.post(
            f"{API}/auth/login",
            json={"organization": o.org.slug, "email": o.admin.email, "password": PASSWORD + "!"},
            headers=headers,
        )
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_credentials"
        assert answer.headers["www-authenticate"] == CHALLENGE
