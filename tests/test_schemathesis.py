"""schemathesis against Roster's own OpenAPI schema: every API operation, called with generated valid
and invalid input, as an admin and as an employee of a real organization with some content.

Checks on every answer: never a 5xx, and a documented answer matches its documented schema. Path
parameters are filled with ids of real objects (one per parameter name, from tests/routes.py), so
the operations reach their business logic instead of stopping at 404.

Bounded by default (a few examples per operation, derandomized); ROSTER_SLOW_TESTS=1 runs many more
examples with a fresh random seed each time.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.orm import Session

from roster.app import create_app
from roster.db.engine import make_engine
from roster.domain.users import Role
from roster.stream.service import create_post
from roster.tasks.service import create_task
from tests.conftest import make_settings
from tests.factories import make_org, make_user, token_for
from tests.routes import OBJECT_MAKERS, api_routes

SLOW = os.environ.get("ROSTER_SLOW_TESTS") == "1"
MAX_EXAMPLES = 100 if SLOW else 10


@dataclass
class Caller:
    headers: dict[str, str]
    ids: dict[str, str]


# The caller's own session must survive the run: signing out or changing one's own password ends it
# (both are covered by tests/test_auth.py), and every later operation would only answer 401.
OWN_SESSION_ENDERS = ["/api/v1/auth/logout", "/api/v1/me/password"]


def _load_schema() -> schemathesis.BaseSchema:
    """The schema the application serves (built once at import; no database is touched)."""
    app = create_app(
        make_settings(Path(tempfile.mkdtemp(prefix="roster-schema-"))), bind=make_engine("sqlite://")
    )
    loaded = schemathesis.openapi.from_dict(app.openapi())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=not SLOW,
        database="none",
    )
    # The coverage phase (boundary values of every field, hundreds per operation) runs in the heavy run.
    loaded.config.phases.update(
        phases=["examples", "coverage", "fuzzing"] if SLOW else ["examples", "fuzzing"]
    )
    return loaded.exclude(method="POST", path=OWN_SESSION_ENDERS)


schema = _load_schema()
# Each operation gets a fresh organization (function-scoped fixtures, in a rolled-back transaction);
# the examples of one operation share it, as a real admin's successive calls would.
RUN = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
    deadline=None,
)


def make_caller(db: Session, role: Role) -> Caller:
    """An admin or an employee of an organization with people, posts, tasks and the rest."""
    o = make_org(db, plan="enterprise")
    colleague = make_user(db, o.org, first_name="Cleo")
    make_user(db, o.org, first_name="Dana", dismissed=True)
    make_user(db, o.org, first_name="Abe", role=Role.ADMIN)
    create_post(db, actor=colleague, body="Welcome to the team", mentions=[o.admin.id])
    create_task(db, actor=o.admin, title="Plan the offsite", responsible_id=colleague.id)
    ids = {name: maker(db, o) for name, maker in OBJECT_MAKERS.items()}
    user = o.admin if role == Role.ADMIN else make_user(db, o.org, first_name="Eve")
    db.flush()
    return Caller(headers={"Authorization": f"Bearer {token_for(db, user)}"}, ids=ids)


@pytest.fixture
def admin(db: Session) -> Caller:
    return make_caller(db, Role.ADMIN)


@pytest.fixture
def employee(db: Session) -> Caller:
    return make_caller(db, Role.EMPLOYEE)


def call_and_check(app: FastAPI, case: schemathesis.Case[Any], caller: Caller) -> None:
    for name, value in list((case.path_parameters or {}).items()):
        if name in caller.ids and _is_uuid(value):
            case.path_parameters[name] = caller.ids[name]  # type: ignore[index]
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=caller.headers)
    if not _renderable(kwargs):
        reject()  # a body the HTTP client itself cannot build (an int as a multipart file)
    # A server error raises here with its traceback (not only a 500), to show where it came from.
    with TestClient(app, raise_server_exceptions=True) as client:
        response = client.request(**kwargs)
    try:
        response.request.read()  # a multipart body is a stream; schemathesis reads it for its report
    except (AttributeError, TypeError):
        # Some generated multipart parts (an int as a file) cannot be rendered a second time; the
        # request was sent, only schemathesis's copy of its body is lost.
        response.request._content = b""
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


@schema.parametrize()
@RUN
def test_the_api_answers_an_admin_without_failing_and_as_documented(
    case: schemathesis.Case[Any], app: FastAPI, admin: Caller
) -> None:
    call_and_check(app, case, admin)


@schema.parametrize()
@RUN
def test_the_api_answers_an_employee_without_failing_and_as_documented(
    case: schemathesis.Case[Any], app: FastAPI, employee: Caller
) -> None:
    call_and_check(app, case, employee)


def _renderable(kwargs: dict[str, Any]) -> bool:
    try:
        request = httpx.Request(
            kwargs["method"],
            "http://testserver/",
            **{k: kwargs[k] for k in ("content", "data", "files", "json") if kwargs.get(k) is not None},
        )
        request.read()
    except (AttributeError, TypeError, ValueError):
        return False
    return True


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def test_a_page_number_beyond_any_list_is_refused_or_empty_never_a_crash(
    app: FastAPI, client: TestClient, admin: Caller
) -> None:
    """Every GET route (API and pages, read from the route table) with an absurd page number."""
    paged = {
        path
        for path, operations in app.openapi()["paths"].items()
        if any(p["name"] == "page" for p in operations.get("get", {}).get("parameters", []))
    }
    assert paged
    for route in api_routes(app):
        if route.method != "GET" or route.params:
            continue
        for huge in ("1000001", str(10**20)):
            answer = client.get(route.path, params={"page": huge}, headers=admin.headers)
            assert answer.status_code < 500, f"{route.path}?page={huge}: {answer.status_code}"
            if route.path in paged and answer.status_code == 200:
                assert answer.json()["items"] == [], route.path
