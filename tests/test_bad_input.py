"""Bad input never gives a 5xx, on either database: text with a NUL character (which PostgreSQL
refuses to store or even compare) is answered with a problem, or matches nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from roster.accounts.models import User
from tests.factories import OrgWithAdmin, auth, make_org, make_user

NUL = "a\x00b"
API = "/api/v1"


def test_a_value_the_database_refuses_is_a_422_problem(app: FastAPI, client: TestClient) -> None:
    @app.get("/api/v1/test-refused-value")
    def refused() -> None:
        raise DataError(
            "INSERT ...", {}, ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        )

    answer = client.get("/api/v1/test-refused-value")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "validation_failed"


Call = Callable[[TestClient, dict[str, str], OrgWithAdmin, User], Any]

NUL_REQUESTS: dict[str, Call] = {
    "invitation names": lambda c, h, o, u: c.post(
        f"{API}/invitations", json={"email": "n1@x.test", "first_name": NUL, "position": NUL}, headers=h
    ),
    "invitation email": lambda c, h, o, u: c.post(f"{API}/invitations", json={"email": NUL}, headers=h),
    "bulk invitation rows": lambda c, h, o, u: c.post(
        f"{API}/invitations/bulk",
        files={"file": ("a.csv", b"email,first_name,department\nn2@x.test,a\x00b,\nn3@x.test,,a\x00b\n")},
        headers=h,
    ),
    "dismissal reason": lambda c, h, o, u: c.post(
        f"{API}/users/{u.id}/dismiss", json={"reason": NUL}, headers=h
    ),
    "audit action filter": lambda c, h, o, u: c.get(f"{API}/audit", params={"action": NUL}, headers=h),
    "audit export filter": lambda c, h, o, u: c.get(
        f"{API}/audit/export.csv", params={"action": NUL}, headers=h
    ),
    "authorship kind filter": lambda c, h, o, u: c.get(f"{API}/authorship", params={"kind": NUL}, headers=h),
    "department name filter": lambda c, h, o, u: c.get(f"{API}/departments", params={"name": NUL}, headers=h),
    "department external id": lambda c, h, o, u: c.post(
        f"{API}/departments", json={"name": "Sales", "external_id": NUL}, headers=h
    ),
    "personal token name": lambda c, h, o, u: c.post(f"{API}/me/tokens", json={"name": NUL}, headers=h),
    "scim token name": lambda c, h, o, u: c.post(f"{API}/scim/tokens", json={"name": NUL}, headers=h),
    "password reset": lambda c, h, o, u: c.post(
        f"{API}/auth/password-reset", json={"organization": NUL, "email": NUL}
    ),
}


@pytest.mark.parametrize("name", sorted(NUL_REQUESTS))
def test_text_with_a_nul_character_never_causes_a_server_error(
    client: TestClient, db: Session, name: str
) -> None:
    o = make_org(db, plan="enterprise")
    target = make_user(db, o.org, first_name="Tara")
    answer = NUL_REQUESTS[name](client, auth(db, o.admin), o, target)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"


def test_filters_no_record_can_match_answer_nothing_and_the_export_stays_whole(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    h = auth(db, o.admin)
    make_user(db, o.org, first_name="Tara")
    client.post(f"{API}/departments", json={"name": "Sales"}, headers=h)
    for path, params in [
        ("/audit", {"action": NUL}),
        ("/audit", {"action": "user\x00."}),
        ("/authorship", {"kind": NUL}),
        ("/departments", {"name": NUL}),
    ]:
        answer = client.get(API + path, params=params, headers=h)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == {"items": [], "total": 0}, path
    export = client.get(f"{API}/audit/export.csv", params={"action": NUL}, headers=h)
    assert export.status_code == 200
    assert export.text.splitlines() == [
        "seq,created_at,action,actor_id,actor,subject_id,subject,details,redacted,hash"
    ]


def test_names_labels_and_ids_with_control_characters_are_refused_on_either_database(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    h = auth(db, o.admin)
    refused = [
        client.post(f"{API}/invitations", json={"email": "n1@x.test", "first_name": NUL}, headers=h),
        client.post(f"{API}/invitations", json={"email": "n1@x.test", "position": "a\nb"}, headers=h),
        client.post(f"{API}/me/tokens", json={"name": NUL}, headers=h),
        client.post(f"{API}/scim/tokens", json={"name": NUL}, headers=h),
        client.post(f"{API}/departments", json={"name": "Sales", "external_id": NUL}, headers=h),
    ]
    for answer in refused:
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "validation_failed"
        assert answer.json()["detail"] == "Control characters are not allowed."

    invited = client.post(f"{API}/invitations", json={"email": "n1@x.test"}, headers=h).json()
    token = invited["accept_url"].rsplit("/", 1)[1]
    accept = client.post(
        f"{API}/invitations/accept", json={"token": token, "password": "a-good-password-1", "last_name": NUL}
    )
    assert accept.status_code == 422
    assert accept.json()["field"] == "last_name"
    assert client.get(f"{API}/invitations/lookup", params={"token": token}).status_code == 200

    # In a bulk invitation each such row fails alone; the others are invited.
    bulk = client.post(
        f"{API}/invitations/bulk",
        files={
            "file": (
                "a.csv",
                b"email,first_name,department\nn2@x.test,a\x00b,\nn3@x.test,,a\x00b\nn4@x.test,,\n",
            )
        },
        headers=h,
    )
    assert bulk.status_code == 200
    assert [i["email"] for i in bulk.json()["created"]] == ["n4@x.test"]
    assert [(f["email"], f["code"]) for f in bulk.json()["failed"]] == [
        ("n2@x.test", "validation_failed"),
        ("n3@x.test", "validation_failed"),
    ]


def test_a_dismissal_reason_keeps_its_lines_but_not_its_control_characters(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    h = auth(db, o.admin)
    target = make_user(db, o.org, first_name="Tara")
    answer = client.post(
        f"{API}/users/{target.id}/dismiss", json={"reason": " Left\x00 us.\nThanks. "}, headers=h
    )
    assert answer.status_code == 200
    events = client.get(f"{API}/audit", params={"action": "user.dismissed"}, headers=h).json()["items"]
    assert events[0]["details"]["reason"] == "Left us.\nThanks."


def test_a_body_that_is_not_json_or_not_the_right_shape_lists_its_errors_by_field(
    db: Session, client: TestClient
) -> None:
    o = make_org(db)
    person = make_user(db, o.org)
    headers = {**auth(db, o.admin), "content-type": "application/json"}
    # JSON that does not parse names no field (its location is only a character position).
    broken = client.post(f"{API}/users/{person.id}/dismiss", content=b'{"reason": ', headers=headers)
    assert broken.status_code == 422 and broken.json()["code"] == "validation_failed"
    assert broken.json()["field"] is None
    assert [set(e) for e in broken.json()["errors"]] == [{"field", "message"}]
    # The bulk invitation reads its JSON itself (it takes CSV uploads too): the same error shape.
    for body, field in ((b'{"emails": [1, ', None), (b'{"emails": "a@x.test"}', "emails")):
        answer = client.post(f"{API}/invitations/bulk", content=body, headers=headers)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
        assert answer.json()["field"] == field
        assert all(set(e) == {"field", "message"} for e in answer.json()["errors"])


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("/organization/settings", "restore_window_days", True),
        ("/organization/settings", "restore_window_days", "30"),
        ("/organization/settings", "employees_may_change_photo", "no"),
        ("/organization/settings", "show_former_employee_names", 0),
        ("/me/tokens", "expires_in_days", True),
    ],
)
def test_numbers_and_switches_of_the_wrong_json_type_are_refused_not_converted(
    db: Session, client: TestClient, url: str, field: str, value: Any
) -> None:
    # true is not one day and "no" is not false: a script that sends the wrong type gets told,
    # rather than, say, a restore window of one day after which deleted people are purged.
    o = make_org(db)
    headers = auth(db, o.admin)
    before = client.get(f"{API}/organization/settings", headers=headers).json()
    body = {field: value} if url != "/me/tokens" else {"name": "script", field: value}
    method = "PATCH" if url == "/organization/settings" else "POST"
    answer = client.request(method, f"{API}{url}", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("validation_failed", field)
    assert client.get(f"{API}/organization/settings", headers=headers).json() == before
    assert client.get(f"{API}/me/tokens", headers=headers).json() == {"items": [], "total": 0}


def test_a_body_over_the_limit_is_refused_before_it_is_read_and_uploads_keep_their_own(
    client: TestClient, db: Session, settings: Any
) -> None:
    """JSON and form bodies are read whole, so they are capped (1 MiB); multipart uploads are
    streamed by their routes, each to its own limit, and pass."""
    from roster.middleware import MAX_BODY_BYTES
    from roster.scim.tokens import create_scim_token
    from tests.test_web import HTML, sign_in

    o = make_org(db, plan="enterprise")
    headers = auth(db, o.admin)
    big = "x" * MAX_BODY_BYTES
    before = db.query(User).count()

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"email": "big@x.test", "position": "'
        for _ in range(4):
            yield big[: MAX_BODY_BYTES // 2].encode()
        yield b'"}'

    for sent in (
        client.post(f"{API}/invitations", json={"email": "big@x.test", "position": big}, headers=headers),
        client.post(
            f"{API}/invitations", content=chunks(), headers={**headers, "content-type": "application/json"}
        ),
        client.post(
            f"{API}/invitations", content=big.encode() + b"!", headers={**headers, "content-type": "text/csv"}
        ),
    ):
        assert sent.status_code == 413, sent.text
        assert sent.headers["content-type"] == "application/problem+json"
        assert sent.json()["code"] == "too_large"
    scim = {"Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"}
    refused = client.post("/scim/v2/Users", json={"userName": "big@x.test", "displayName": big}, headers=scim)
    assert refused.status_code == 413 and refused.json()["status"] == "413", refused.text
    csrf = sign_in(client, db, settings, o.admin)
    page = client.post(
        "/people/invite", data={"email": "big@x.test", "position": big, "csrf_token": csrf}, headers=HTML
    )
    assert page.status_code == 413 and "<h1" in page.text
    db.expire_all()
    assert db.query(User).count() == before

    upload = b"y" * (MAX_BODY_BYTES * 2)
    stored = client.post(
        f"{API}/files", files={"file": ("big.bin", upload, "application/octet-stream")}, headers=headers
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(upload)


def test_null_in_a_patch_clears_only_what_may_be_empty_and_is_refused_elsewhere(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    """Every PATCH body, read from the route table: ``null`` for a field that cannot be empty (a
    title, a responsible person, a status) is 422 naming the field, where it used to be read as
    "unchanged"; the fields a model lets ``null`` clear still take it."""
    from tests.routes import OBJECT_MAKERS, patch_bodies

    o = make_org(db, plan="enterprise")
    headers = auth(db, o.admin)
    routes = patch_bodies(app)
    assert {route.path for route, _ in routes} >= {
        "/api/v1/tasks/{task_id}",
        "/api/v1/crm/leads/{lead_id}",
        "/api/v1/users/{user_id}",
        "/api/v1/departments/{department_id}",
        "/api/v1/posts/{post_id}",
        "/api/v1/organization/settings",
    }
    for route, model in routes:
        for name, field in model.model_fields.items():
            url = route.path
            for param in route.params:
                url = url.replace("{" + param + "}", OBJECT_MAKERS[param](db, o))
            key = field.alias or name
            answer = client.patch(url, json={key: None}, headers=headers)
            if name in model.clearable:
                assert answer.status_code == 200, (route.path, key, answer.text)
            else:
                assert answer.status_code == 422, (route.path, key, answer.text)
                assert answer.json()["field"] == key, (route.path, key, answer.json())


def test_a_field_no_endpoint_knows_is_refused_everywhere_and_changes_nothing(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    """A misspelt field ("respnsible_id") must not be ignored silently: every JSON body model
    refuses what it does not declare, as the post and profile models always did."""
    from pydantic import BaseModel

    from tests.routes import _flat_routes

    checked = []
    for path, _methods, dependant in _flat_routes(list(app.routes)):
        for param in dependant.body_params:
            model = param.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                assert model.model_config.get("extra") == "forbid", f"{path}: {model.__name__}"
                checked.append(model)
    assert len(checked) > 20
    o = make_org(db)
    h = auth(db, o.admin)
    answer = client.post(f"{API}/invitations", json={"email": "new@x.test", "rol": "admin"}, headers=h)
    assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
    assert client.get(f"{API}/invitations", headers=h).json()["total"] == 0


def test_the_openapi_schema_documents_refusals_as_the_problems_they_are(
    db: Session, app: FastAPI, client: TestClient
) -> None:
    """Every operation documents its refusals (and its 422) as problem+json with the fields every
    refusal carries, not FastAPI's own ``{"detail": [...]}``, which is never sent."""
    schema = client.get("/openapi.json").json()
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    expected = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses["default"]["content"] == expected, (method, path)
            for status, answer in responses.items():
                if status.startswith("2") and status != "204":  # what a success carries, and as what
                    assert answer.get("content"), (method, path, status)
                    assert all(c.get("schema") for c in answer["content"].values()), (method, path, status)
            if "422" in responses:
                assert responses["422"]["content"] == expected, (method, path)
    o = make_org(db)
    refused = client.post(f"{API}/invitations", json={"email": 5}, headers=auth(db, o.admin))
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert set(problem["required"]) <= set(refused.json())
    assert isinstance(refused.json()["detail"], str) and refused.json()["errors"][0]["field"] == "email"


# Within datetime's years 1 to 9999 as written, outside them once moved to UTC.
BEYOND_UTC = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]


@pytest.mark.parametrize("moment", BEYOND_UTC)
def test_a_time_utc_cannot_hold_is_a_422_wherever_a_time_is_taken(
    client: TestClient, db: Session, settings: Any, moment: str
) -> None:
    from roster.scim.tokens import create_scim_token
    from roster.tasks.service import create_task

    o = make_org(db)
    headers = auth(db, o.admin)
    task = create_task(db, actor=o.admin, title="Kept as it is", responsible_id=o.admin.id)
    for answer, field in (
        (client.get(f"{API}/audit", params={"since": moment}, headers=headers), "since"),
        (client.get(f"{API}/audit", params={"until": moment}, headers=headers), "until"),
        (client.get(f"{API}/audit/export.csv", params={"since": moment}, headers=headers), "since"),
        (
            client.post(
                f"{API}/tasks",
                json={"title": "Far off", "responsible_id": str(o.admin.id), "deadline": moment},
                headers=headers,
            ),
            "deadline",
        ),
        (client.patch(f"{API}/tasks/{task.id}", json={"deadline": moment}, headers=headers), "deadline"),
    ):
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == ("validation_failed", field)
    kept = client.get(f"{API}/tasks/{task.id}", headers=headers).json()
    assert kept["deadline"] is None
    assert client.get(f"{API}/tasks", headers=headers).json()["total"] == 1

    scim = {"Authorization": f"Bearer {create_scim_token(db, o.org.id, actor=o.admin, name='idp').secret}"}
    for resource in ("Users", "Groups"):
        found = client.get(
            f"/scim/v2/{resource}", params={"filter": f'meta.lastModified gt "{moment}"'}, headers=scim
        )
        assert found.status_code == 400 and found.json()["scimType"] == "invalidFilter", found.text


def test_the_audit_page_shows_a_recorded_text_that_looks_like_a_time_utc_cannot_hold(
    client: TestClient, db: Session, settings: Any
) -> None:
    """The page writes times it finds in an event's details in UTC; a name an admin or an
    identity provider gave (a SCIM token's here) only looks like one, and shows as written."""
    from tests.test_web import HTML, sign_in

    o = make_org(db)
    headers = auth(db, o.admin)
    for moment in BEYOND_UTC:
        assert client.post(f"{API}/scim/tokens", json={"name": moment}, headers=headers).status_code == 201
    sign_in(client, db, settings, o.admin)
    page = client.get("/admin/audit", headers=HTML)
    assert page.status_code == 200, page.text
    assert all(moment in page.text for moment in BEYOND_UTC)
