"""SCIM 2.0 beyond the conformance suite: filters, paging, PATCH as Entra ID and Okta send it,
ETags, tokens, organizations, seats, and the whole provision -> deactivate -> reactivate -> delete
sequence with its audit trail."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.domain.users import UserStatus
from roster.scim import filters
from roster.scim.tokens import create_scim_token
from tests.factories import OrgWithAdmin, auth, make_org, make_user
from tests.lifecycle_helpers import actions, events

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"


def scim_headers(db: Session, o: OrgWithAdmin) -> dict[str, str]:
    secret = create_scim_token(db, o.org.id, actor=o.admin, name="idp").secret
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/scim+json"}


@pytest.fixture
def org(db: Session) -> OrgWithAdmin:
    return make_org(db, plan="enterprise")


@pytest.fixture
def h(db: Session, org: OrgWithAdmin) -> dict[str, str]:
    return scim_headers(db, org)


def new_user(
    client: TestClient,
    h: dict[str, str],
    user_name: str,
    *,
    given: str = "Ann",
    family: str = "Lee",
    active: bool = True,
    title: str | None = None,
    email_type: str = "work",
    extension: dict[str, Any] | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": user_name if "@" in user_name else f"{user_name}@x.test", "type": email_type}],
        "active": active,
    }
    if title is not None:
        body["title"] = title
    if extension is not None:
        body["schemas"].append(ENTERPRISE)
        body[ENTERPRISE] = extension
    if external_id is not None:
        body["externalId"] = external_id
    answer = client.post(USERS, json=body, headers=h)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def patch(client: TestClient, h: dict[str, str], url: str, *operations: dict[str, Any]) -> Any:
    return client.patch(url, json={"schemas": [PATCH_OP], "Operations": list(operations)}, headers=h)


def search(client: TestClient, h: dict[str, str], scim_filter: str, **params: Any) -> dict[str, Any]:
    answer = client.get(USERS, params={"filter": scim_filter, **params}, headers=h)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def names(listing: dict[str, Any]) -> list[str]:
    return sorted(r["userName"] for r in listing["Resources"])


def assert_scim_error(answer: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = dict(answer.json())
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type
    return body


# --- authentication and organizations ------------------------------------------------------------


def test_requests_without_a_token_or_with_a_wrong_one_answer_401_scim_errors(client: TestClient) -> None:
    assert_scim_error(client.get(USERS), 401)
    assert_scim_error(client.get(USERS, headers={"Authorization": "Bearer rst_nope"}), 401)
    assert_scim_error(client.get("/scim/v2/ServiceProviderConfig", headers={"Authorization": "Basic x"}), 401)


def test_the_token_is_checked_before_the_request_is_read(client: TestClient) -> None:
    # A caller without a valid token learns nothing about its request: not that the body is not
    # JSON, not that the filter is malformed.
    wrong = {"Authorization": "Bearer rst_nope", "Content-Type": "application/scim+json"}
    assert_scim_error(client.post(USERS, content=b"{not json", headers=wrong), 401)
    assert_scim_error(client.post("/scim/v2/Groups", content=b"[1, 2]", headers=wrong), 401)
    assert_scim_error(client.get(USERS, params={"filter": "userName eq"}, headers=wrong), 401)
    assert_scim_error(client.get(USERS, params={"count": "many"}), 401)


def test_a_login_token_is_not_a_scim_token(client: TestClient, db: Session, org: OrgWithAdmin) -> None:
    assert_scim_error(client.get(USERS, headers=auth(db, org.admin)), 401)


def test_admins_create_list_and_revoke_tokens_and_last_use_is_recorded(
    client: TestClient, db: Session, org: OrgWithAdmin
) -> None:
    admin = auth(db, org.admin)
    created = client.post("/api/v1/scim/tokens", json={"name": "Entra ID"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Entra ID" and body["token"].startswith("rst_")
    listed = client.get("/api/v1/scim/tokens", headers=admin).json()
    assert [t["id"] for t in listed["items"]] == [body["id"]]
    assert "token" not in listed["items"][0] and listed["items"][0]["last_used_at"] is None

    scim = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(USERS, headers=scim).status_code == 200
    assert client.get("/api/v1/scim/tokens", headers=admin).json()["items"][0]["last_used_at"] is not None

    assert client.delete(f"/api/v1/scim/tokens/{body['id']}", headers=admin).status_code == 204
    assert_scim_error(client.get(USERS, headers=scim), 401)
    assert client.get("/api/v1/scim/tokens", headers=admin).json()["total"] == 0
    assert "scim_token.created" in actions(db, org.org.id) and "scim_token.revoked" in actions(db, org.org.id)


def test_employees_cannot_manage_scim_tokens(client: TestClient, db: Session, org: OrgWithAdmin) -> None:
    employee = make_user(db, org.org)
    answer = client.post("/api/v1/scim/tokens", json={}, headers=auth(db, employee))
    assert answer.status_code == 403


def test_a_token_sees_only_its_own_organization(client: TestClient, db: Session, h: dict[str, str]) -> None:
    mine = new_user(client, h, "ann@mine.test")
    other = make_org(db, plan="enterprise")
    theirs = scim_headers(db, other)
    stranger = make_user(db, other.org, email="bob@theirs.test")
    assert_scim_error(client.get(f"{USERS}/{stranger.id}", headers=h), 404)
    assert_scim_error(client.get(f"{USERS}/{mine['id']}", headers=theirs), 404)
    assert_scim_error(
        patch(client, theirs, f"{USERS}/{mine['id']}", {"op": "replace", "path": "active", "value": False}),
        404,
    )
    assert_scim_error(client.delete(f"{USERS}/{mine['id']}", headers=theirs), 404)
    assert names(search(client, h, 'userName eq "bob@theirs.test"')) == []
    everyone = client.get(USERS, headers=theirs).json()
    assert "ann@mine.test" not in [r["userName"] for r in everyone["Resources"]]


# --- discovery -----------------------------------------------------------------------------------


def test_the_service_provider_config_announces_exactly_what_is_supported(
    client: TestClient, h: dict[str, str]
) -> None:
    config = client.get("/scim/v2/ServiceProviderConfig", headers=h).json()
    assert config["patch"]["supported"] is True
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["bulk"]["supported"] is False
    assert config["changePassword"]["supported"] is False
    assert config["sort"]["supported"] is True and config["etag"]["supported"] is True
    types = client.get("/scim/v2/ResourceTypes", headers=h).json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schemas = client.get("/scim/v2/Schemas", headers=h).json()["Resources"]
    user = next(s for s in schemas if s["id"].endswith("core:2.0:User"))
    assert {a["name"] for a in user["attributes"]} == {
        "userName",
        "name",
        "displayName",
        "title",
        "timezone",
        "active",
        "emails",
        "groups",
    }
    # The zones it takes are offered as canonical values (IANA names).
    zone = next(a for a in user["attributes"] if a["name"] == "timezone")
    assert "Europe/Berlin" in zone["canonicalValues"] and "UTC" in zone["canonicalValues"]
    # One entry of each catalog, by its id in any case.
    assert client.get("/scim/v2/ResourceTypes/user", headers=h).json()["id"] == "User"
    one = client.get(f"/scim/v2/Schemas/{user['id'].upper()}", headers=h)
    assert one.status_code == 200 and one.json() == user
    missing = client.get("/scim/v2/ResourceTypes/Printer", headers=h)
    assert missing.status_code == 404 and missing.json()["detail"] == "Resource type Printer not found."


def test_unknown_endpoints_answer_scim_404s(client: TestClient, h: dict[str, str]) -> None:
    assert_scim_error(client.get("/scim/v2/Nope", headers=h), 404)
    assert_scim_error(client.get(f"{USERS}/not-an-id", headers=h), 404)
    assert_scim_error(client.get("/scim/v2/Schemas/urn:nope", headers=h), 404)


def test_bulk_and_me_answer_501_not_implemented(client: TestClient, h: dict[str, str]) -> None:
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}
    assert (
        "Bulk operations are not supported"
        in assert_scim_error(client.post("/scim/v2/Bulk", json=bulk, headers=h), 501)["detail"]
    )
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert (
            "/Me is not supported"
            in assert_scim_error(client.request(method, "/scim/v2/Me", headers=h), 501)["detail"]
        )
    assert client.get("/scim/v2/ServiceProviderConfig", headers=h).json()["bulk"]["supported"] is False
    assert_scim_error(client.post("/scim/v2/Bulk", json=bulk), 401)  # nothing for a caller without a token


# --- create and uniqueness -----------------------------------------------------------------------


def test_create_provisions_an_active_user_through_the_lifecycle(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    created = new_user(
        client,
        h,
        "Ann.Lee@Example.com",
        title="Engineer",
        extension={"employeeNumber": "E-7", "department": "R&D"},
        external_id="aad-1",
    )
    assert created["active"] is True
    assert created["userName"] == "Ann.Lee@Example.com"
    assert created["emails"] == [{"value": "Ann.Lee@example.com", "type": "work"}]
    assert created[ENTERPRISE] == {"employeeNumber": "E-7", "department": "R&D"}
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    user = db.get(User, (org.org.id, uuid.UUID(created["id"])))
    assert user is not None and user.status == UserStatus.ACTIVE.value
    assert user.position == "Engineer" and user.display_name == "Ann Lee" and user.external_id == "aad-1"
    provisioned = events(db, org.org.id, "user.provisioned")
    assert [e.subject_id for e in provisioned] == [user.id]
    assert provisioned[0].details["via"] == "scim" and provisioned[0].actor_id is None


def test_a_duplicate_user_name_answers_409_uniqueness_whatever_its_case(
    client: TestClient, h: dict[str, str]
) -> None:
    new_user(client, h, "ann@x.test")
    body = {"userName": "ANN@X.TEST", "emails": [{"value": "other@x.test"}]}
    assert_scim_error(client.post(USERS, json=body, headers=h), 409, "uniqueness")
    taken_email = {"userName": "someone-else", "emails": [{"value": "ann@x.test"}]}
    assert_scim_error(client.post(USERS, json=taken_email, headers=h), 409, "uniqueness")


def test_an_existing_member_is_found_by_user_name_before_scim_ever_created_them(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    make_user(db, org.org, email="Invited.Person@x.test")
    assert names(search(client, h, 'userName eq "invited.person@X.TEST"')) == ["Invited.Person@x.test"]


def test_bad_bodies_answer_400s_never_5xx(client: TestClient, h: dict[str, str]) -> None:
    assert_scim_error(client.post(USERS, content=b"{nope", headers=h), 400, "invalidSyntax")
    assert_scim_error(client.post(USERS, json=["a"], headers=h), 400, "invalidSyntax")
    assert_scim_error(
        client.post(USERS, json={"emails": [{"value": "a@x.test"}]}, headers=h), 400, "invalidValue"
    )
    assert_scim_error(client.post(USERS, json={"userName": "nomail"}, headers=h), 400, "invalidValue")
    assert_scim_error(
        client.post(USERS, json={"userName": "a@x.test", "active": "maybe"}, headers=h), 400, "invalidValue"
    )
    assert_scim_error(
        client.post(USERS, json={"userName": "a@x.test", "name": "Ann"}, headers=h), 400, "invalidValue"
    )
    assert_scim_error(client.post(USERS, json={"userName": 7 * "x" * 100}, headers=h), 400, "invalidValue")
    created = new_user(client, h, "ok@x.test")
    url = f"{USERS}/{created['id']}"
    assert_scim_error(
        patch(client, h, url, {"op": "explode", "path": "title", "value": "x"}), 400, "invalidSyntax"
    )
    assert_scim_error(patch(client, h, url, {"op": "remove"}), 400, "noTarget")
    no_op = assert_scim_error(patch(client, h, url, {"path": "title", "value": "x"}), 400, "invalidSyntax")
    assert no_op["detail"] == "Each operation needs an op: add, replace or remove."
    assert_scim_error(
        patch(client, h, url, {"op": "replace", "path": "title[[", "value": "x"}), 400, "invalidPath"
    )
    assert_scim_error(client.patch(url, json={"Operations": []}, headers=h), 400, "invalidSyntax")
    assert_scim_error(
        patch(client, h, url, {"op": "replace", "path": "id", "value": str(uuid.uuid4())}), 400, "mutability"
    )
    assert_scim_error(client.get(USERS, params={"startIndex": "one"}, headers=h), 400, "invalidValue")
    assert_scim_error(client.get(USERS, params={"sortBy": "active"}, headers=h), 400, "invalidValue")


def test_attributes_with_control_characters_answer_400_and_change_nothing(
    client: TestClient, h: dict[str, str]
) -> None:
    base = {"userName": "nul@x.test", "name": {"givenName": "Ann", "familyName": "Lee"}}
    for body in [
        {**base, "name": {"givenName": "A\x00nn", "familyName": "Lee"}},
        {**base, "title": "Engi\x00neer"},
        {**base, "externalId": "ext\x00-1"},
        {**base, ENTERPRISE: {"employeeNumber": "1\x002"}},
    ]:
        assert_scim_error(client.post(USERS, json=body, headers=h), 400, "invalidValue")
    assert (
        client.get(USERS, params={"filter": 'userName eq "nul@x.test"'}, headers=h).json()["totalResults"]
        == 0
    )
    created = new_user(client, h, "ok@x.test", title="Engineer")
    url = f"{USERS}/{created['id']}"
    assert_scim_error(
        patch(client, h, url, {"op": "replace", "path": "title", "value": "a\x00b"}), 400, "invalidValue"
    )
    assert client.get(url, headers=h).json()["title"] == "Engineer"


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def people(client: TestClient, h: dict[str, str]) -> dict[str, dict[str, Any]]:
    made = {
        "ann": new_user(
            client,
            h,
            "ann@acme.test",
            given="Ann",
            family="Lee",
            title="Engineer",
            extension={"employeeNumber": "100", "department": "R&D"},
        ),
        "bob": new_user(
            client,
            h,
            "bob@acme.test",
            given="Bob",
            family="Stone",
            title="Sales lead",
            email_type="home",
            extension={"employeeNumber": "200"},
        ),
        "cy": new_user(client, h, "cy@other.test", given="Cy", family="Leeson", active=False),
        "dee": new_user(client, h, "dee_100%@acme.test", given="Dee", family="Ng"),
    }
    return made


@pytest.mark.parametrize(
    ("scim_filter", "expected"),
    [
        ('userName eq "ANN@acme.test"', ["ann@acme.test"]),
        ('userName ne "ann@acme.test" and userName ew "acme.test"', ["bob@acme.test", "dee_100%@acme.test"]),
        ('name.familyName co "ee"', ["ann@acme.test", "cy@other.test"]),
        ('name.familyName sw "lee"', ["ann@acme.test", "cy@other.test"]),
        ('userName ew "@OTHER.test"', ["cy@other.test"]),
        ('userName co "_100%"', ["dee_100%@acme.test"]),
        ("title pr", ["ann@acme.test", "bob@acme.test"]),
        ("not (title pr)", ["cy@other.test", "dee_100%@acme.test"]),
        ('name.givenName gt "bob"', ["cy@other.test", "dee_100%@acme.test"]),
        ('name.givenName ge "bob"', ["bob@acme.test", "cy@other.test", "dee_100%@acme.test"]),
        ('name.givenName lt "bob"', ["ann@acme.test"]),
        ('name.givenName le "BOB"', ["ann@acme.test", "bob@acme.test"]),
        ("active eq false", ["cy@other.test"]),
        ("active ne false", ["ann@acme.test", "bob@acme.test", "dee_100%@acme.test"]),
        ('title eq "engineer" or title eq "Sales lead"', ["ann@acme.test", "bob@acme.test"]),
        ('(title eq "engineer" or active eq false) and name.givenName sw "c"', ["cy@other.test"]),
        ('emails[type eq "home"]', ["bob@acme.test"]),
        ('emails[type eq "work" and value co "acme"]', ["ann@acme.test", "dee_100%@acme.test"]),
        ('emails[type eq "work"].value eq "ann@acme.test"', ["ann@acme.test"]),
        ('emails.value eq "BOB@acme.test"', ["bob@acme.test"]),
        ('emails co "other"', ["cy@other.test"]),
        (f'{ENTERPRISE}:employeeNumber eq "200"', ["bob@acme.test"]),
        ("employeeNumber pr and not (department pr)", ["bob@acme.test"]),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ann"', ["ann@acme.test"]),
        (
            'meta.created gt "2000-01-01T00:00:00Z"',
            ["ann@acme.test", "bob@acme.test", "cy@other.test", "dee_100%@acme.test"],
        ),
        ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
        ('USERNAME EQ "bob@acme.test"', ["bob@acme.test"]),
    ],
)
def test_filters_select_in_sql(
    client: TestClient, h: dict[str, str], people: dict[str, Any], scim_filter: str, expected: list[str]
) -> None:
    # The organization's admin is a user too; these filters are about the four people above.
    found = [n for n in names(search(client, h, scim_filter)) if not n.startswith("admin@")]
    assert found == sorted(expected)


def test_filters_by_id_manager_and_group(
    client: TestClient, h: dict[str, str], people: dict[str, Any]
) -> None:
    ann, bob = people["ann"], people["bob"]
    assert names(search(client, h, f'id eq "{ann["id"]}"')) == ["ann@acme.test"]
    assert names(search(client, h, 'id eq "not-a-uuid"')) == []
    patch(
        client,
        h,
        f"{USERS}/{bob['id']}",
        {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": ann["id"]}},
    )
    assert names(search(client, h, f'manager.value eq "{ann["id"]}"')) == ["bob@acme.test"]
    group = client.post(
        GROUPS, json={"displayName": "Ops", "members": [{"value": ann["id"]}]}, headers=h
    ).json()
    assert names(search(client, h, f'groups.value eq "{group["id"]}"')) == ["ann@acme.test"]
    assert names(search(client, h, 'groups.display eq "ops"')) == ["ann@acme.test"]


def test_search_by_post_accepts_the_same_filters(
    client: TestClient, h: dict[str, str], people: dict[str, Any]
) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'name.familyName sw "Lee"',
        "attributes": ["userName"],
        "sortBy": "userName",
        "sortOrder": "descending",
    }
    answer = client.post(f"{USERS}/.search", json=body, headers=h).json()
    assert [r["userName"] for r in answer["Resources"]] == ["cy@other.test", "ann@acme.test"]
    assert set(answer["Resources"][0]) == {"schemas", "id", "userName", "meta"}


@pytest.mark.parametrize(
    ("scim_filter", "why"),
    [
        ('userName eq "a', "syntax"),
        ("userName", "syntax"),
        ('nickName eq "x"', "unsupported attribute"),
        ('urn:example:User:userName eq "x"', "unknown schema"),
        ("active gt true", "ordering a boolean"),
        ('meta.created gt "yesterday"', "not a time"),
        ('meta.created co "2020"', "substring of a time"),
        ('name eq "x"', "complex attribute"),
        ('id sw "01"', "substring of an id"),
        ('emails[type eq "work"]', "fine"),
    ],
)
def test_invalid_filters_answer_400_invalid_filter(
    client: TestClient, h: dict[str, str], scim_filter: str, why: str
) -> None:
    answer = client.get(USERS, params={"filter": scim_filter}, headers=h)
    if why == "fine":
        assert answer.status_code == 200
    else:
        assert_scim_error(answer, 400, "invalidFilter")


def test_filters_are_translated_to_sql_not_applied_in_python() -> None:
    condition = filters.filter_to_sql(
        filters.USERS, 'userName eq "Ann" and (title co "eng" or not (active eq true))'
    )
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql = str(condition.compile(dialect=dialect))
        assert "users.scim_user_name_key" in sql and "users.email_key" in sql
        assert "lower(users.position) LIKE" in sql and "users.status" in sql


def _random_case(draw: st.DrawFn, word: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)


@st.composite
def user_name_filters(draw: st.DrawFn, plain: bool) -> str:
    """``userName eq "..."`` as identity providers send it (``plain``), or near misses of it."""
    spaces = st.text(alphabet=" " if plain else " \t\n", max_size=3)
    prefixes = ["", "urn:ietf:params:scim:schemas:core:2.0:User:"] + ([] if plain else ["urn:x:User:"])
    value = draw(st.text(max_size=12) | st.sampled_from(["ann@acme.test", 'a\\"b', "a\\u0041", "é@x"]))
    quote = '"' if plain else draw(st.sampled_from(['"', "'", ""]))
    return (
        draw(spaces)
        + _random_case(draw, draw(st.sampled_from(prefixes)) + "userName")
        + draw(spaces.filter(bool))
        + _random_case(draw, "eq" if plain else draw(st.sampled_from(["eq", "ne", "co"])))
        + draw(spaces.filter(bool))
        + quote
        + value
        + quote
        + draw(spaces)
    )


@settings(max_examples=300, deadline=None)
@given(text=user_name_filters(plain=True) | user_name_filters(plain=False) | st.text(max_size=40))
def test_the_user_name_lookup_shortcut_means_what_the_parsed_filter_means(text: str) -> None:
    # Listings answer a bare userName eq "..." with a statement made once; that is only right if
    # the filter, parsed and translated, would select exactly the same people.
    org_id = uuid.uuid4()
    user_name = filters.user_name_equal_to(text)
    if user_name is None:
        return
    parsed = filters.filter_to_sql(filters.USERS, text, org_id=org_id)
    shortcut = filters.user_name_is(user_name, org_id)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled, expected = parsed.compile(dialect=dialect), shortcut.compile(dialect=dialect)
        assert (compiled.string, compiled.params) == (expected.string, expected.params)


def test_the_user_name_lookup_shortcut_takes_the_plain_form_only() -> None:
    assert filters.user_name_equal_to('userName eq "Ann@acme.test"') == "Ann@acme.test"
    assert filters.user_name_equal_to(' USERNAME EQ "" ') == ""
    assert filters.user_name_equal_to('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"') == "a"
    for other in (
        '(userName eq "a")',
        'userName eq "a" or userName eq "b"',
        'userName ne "a"',
        'userName eq "a\\"b"',
        'emails.value eq "a"',
        'userName  eq\t"a"',
        "userName eq " + '"' + "a" * filters.MAX_FILTER_LENGTH + '"',
    ):
        assert filters.user_name_equal_to(other) is None, other


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wanted=st.sampled_from(
        [
            "ann@acme.test",
            "cy@other.test",
            "gone@acme.test",
            "kim@idp.test",
            "kim@acme.test",
            "lee@acme.test",
            "nobody@x.test",
        ]
    ),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    start_index=st.sampled_from([None, 1, 2]),
    count=st.sampled_from([None, 0, 1, 5]),
)
def test_a_user_name_lookup_answers_what_the_general_filter_path_answers(
    client: TestClient,
    db: Session,
    org: OrgWithAdmin,
    h: dict[str, str],
    people: dict[str, Any],
    wanted: str,
    case: Any,
    start_index: int | None,
    count: int | None,
) -> None:
    # kim's SCIM userName differs from her email; gone@ was deleted; lee has no SCIM userName, so
    # hers is her email; cy is dismissed. The parentheses send the same
    # filter down the general path (parse, translate), the bare form takes the shortcut.
    if not names(search(client, h, '(userName eq "kim@idp.test")')):  # once per test, not per example
        kim = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "kim@idp.test",
            "emails": [{"value": "kim@acme.test"}],
        }
        assert client.post(USERS, json=kim, headers=h).status_code == 201
        gone = new_user(client, h, "gone@acme.test")
        assert client.delete(f"{USERS}/{gone['id']}", headers=h).status_code == 204
        make_user(db, org.org, email="lee@acme.test")  # never seen by SCIM: found by email
    params = {k: v for k, v in (("startIndex", start_index), ("count", count)) if v is not None}
    shortcut = search(client, h, f'userName eq "{case(wanted)}"', **params)
    general = search(client, h, f'(userName eq "{case(wanted)}")', **params)
    assert shortcut == general


@pytest.mark.sqlite_only
@pytest.mark.parametrize("action", ["lookup", "create", "taken"])
def test_finding_a_user_name_reads_two_index_entries_not_the_organization(
    client: TestClient, db: Session, h: dict[str, str], org: OrgWithAdmin, action: str
) -> None:
    # Identity providers look a person up by userName before every change, and every create and
    # rename checks that the name is free. Without care the planner answers "userName is X" by
    # walking every person of the organization (an OR of two columns, beside ORDER BY id or not).
    for n in range(30):
        make_user(db, org.org, email=f"person{n}@example.test")
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM users" in statement:
            statements.append((statement, parameters))

    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        if action == "lookup":
            assert names(search(client, h, 'userName eq "PERSON7@example.test"')) == ["person7@example.test"]
        elif action == "create":
            new_user(client, h, "newcomer@example.test")
        else:
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "PERSON7@example.test",
                "emails": [{"value": "someone.else@example.test"}],
            }
            taken = client.post(USERS, json=body, headers=h)
            assert_scim_error(taken, 409, "uniqueness")
    finally:
        event.remove(bind, "before_cursor_execute", record)
    lookups = [(sql, params) for sql, params in statements if "scim_user_name_key = ?" in sql]
    assert lookups, statements
    for sql, params in lookups:
        plan = [row[3] for row in db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
        assert not any(step.startswith("SCAN") for step in plan), plan
        assert not any(step.endswith("(org_id=?)") for step in plan), plan  # every person of the org
        assert any("uq_users_scim_user_name_key" in step for step in plan), plan


# --- paging, sorting, attributes -----------------------------------------------------------------


def test_paging_is_stable_and_counts_everything(client: TestClient, h: dict[str, str]) -> None:
    for i in range(7):
        new_user(client, h, f"p{i}@x.test")
    first = client.get(
        USERS, params={"startIndex": 1, "count": 3, "filter": 'userName sw "p"'}, headers=h
    ).json()
    second = client.get(
        USERS, params={"startIndex": 4, "count": 3, "filter": 'userName sw "p"'}, headers=h
    ).json()
    third = client.get(
        USERS, params={"startIndex": 7, "count": 3, "filter": 'userName sw "p"'}, headers=h
    ).json()
    assert (first["totalResults"], first["itemsPerPage"], first["startIndex"]) == (7, 3, 1)
    seen = [r["userName"] for page in (first, second, third) for r in page["Resources"]]
    assert sorted(seen) == [f"p{i}@x.test" for i in range(7)] and len(set(seen)) == 7
    empty = client.get(USERS, params={"count": 0}, headers=h).json()
    assert empty["Resources"] == [] and empty["totalResults"] >= 7
    beyond = client.get(USERS, params={"startIndex": 500}, headers=h).json()
    assert beyond["Resources"] == []
    huge = client.get(USERS, params={"count": 100000, "startIndex": -4}, headers=h).json()
    assert huge["startIndex"] == 1


@pytest.mark.parametrize("start_index", [2**31, 2**63, 10**22])
@pytest.mark.parametrize("shape", ["list", "lookup", "groups", "search"])
def test_a_start_index_past_any_database_offset_answers_an_empty_page(
    client: TestClient, h: dict[str, str], start_index: int, shape: str
) -> None:
    # RFC 7644 §3.4.2.4: a startIndex past the last result is an empty page, however large.
    new_user(client, h, "far@x.test")
    if shape == "search":
        answer = client.post(f"{USERS}/.search", json={"startIndex": start_index}, headers=h)
    else:
        params: dict[str, Any] = {"startIndex": str(start_index)}
        if shape == "lookup":
            params["filter"] = 'userName eq "far@x.test"'
        answer = client.get(GROUPS if shape == "groups" else USERS, params=params, headers=h)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["Resources"] == [] and page["itemsPerPage"] == 0
    assert page["totalResults"] == (0 if shape == "groups" else 2 if shape != "lookup" else 1)


def test_sorting_by_user_name(client: TestClient, h: dict[str, str], people: dict[str, Any]) -> None:
    up = client.get(USERS, params={"sortBy": "userName"}, headers=h).json()
    down = client.get(USERS, params={"sortBy": "userName", "sortOrder": "descending"}, headers=h).json()
    up_names = [r["userName"] for r in up["Resources"]]
    assert up_names == sorted(up_names, key=str.casefold)
    assert [r["userName"] for r in down["Resources"]] == list(reversed(up_names))


def test_sorting_by_an_unknown_attribute_says_sorting_not_filtering(
    client: TestClient, h: dict[str, str]
) -> None:
    body = assert_scim_error(client.get(USERS, params={"sortBy": "nickName"}, headers=h), 400, "invalidValue")
    assert body["detail"] == "Sorting by nickName is not supported."
    body = assert_scim_error(client.get(GROUPS, params={"sortBy": "members"}, headers=h), 400, "invalidValue")
    assert body["detail"] == "Sorting by members is not supported."
    # A filter on one still says filtering.
    body = assert_scim_error(client.get(USERS, params={"filter": 'nickName eq "x"'}, headers=h), 400)
    assert body["detail"] == "Filtering on nickName is not supported."


def test_attributes_and_excluded_attributes(
    client: TestClient, h: dict[str, str], people: dict[str, Any]
) -> None:
    ann = people["ann"]
    only = client.get(
        f"{USERS}/{ann['id']}", params={"attributes": "userName,name.givenName"}, headers=h
    ).json()
    assert set(only) == {"schemas", "id", "meta", "userName", "name"} and only["name"] == {"givenName": "Ann"}
    without = client.get(
        f"{USERS}/{ann['id']}", params={"excludedAttributes": f"emails,{ENTERPRISE}:department"}, headers=h
    ).json()
    assert "emails" not in without and without[ENTERPRISE] == {"employeeNumber": "100"}
    listed = client.get(
        USERS, params={"attributes": "displayName", "filter": 'userName eq "ann@acme.test"'}, headers=h
    )
    assert set(listed.json()["Resources"][0]) == {"schemas", "id", "meta", "displayName"}


# --- ETags ---------------------------------------------------------------------------------------


def test_a_listing_shows_each_person_exactly_as_reading_them_does(
    client: TestClient, h: dict[str, str]
) -> None:
    """Listings and single reads render rows of the users table, the answer to a write renders
    the ORM object: every attribute, the departments, the manager and the version must come out
    the same."""
    boss = new_user(client, h, "boss@acme.test", title="Director", external_id="ext-boss")
    worker = new_user(
        client,
        h,
        "worker@acme.test",
        given="Wan",
        family="Ker",
        email_type="home",
        extension={"employeeNumber": "E-7", "department": "Ops", "manager": {"value": boss["id"]}},
    )
    quiet = new_user(client, h, "quiet@acme.test", active=False)
    client.post(GROUPS, json={"displayName": "Ops", "members": [{"value": worker["id"]}]}, headers=h)
    client.post(GROUPS, json={"displayName": "Admins", "members": [{"value": worker["id"]}]}, headers=h)
    for person in (boss, worker, quiet):
        read = client.get(f"{USERS}/{person['id']}", headers=h)
        name = read.json()["userName"]
        for listing in (
            client.get(USERS, params={"filter": f'userName eq "{name}"'}, headers=h),  # the shortcut
            client.get(USERS, params={"filter": f'(userName eq "{name}")'}, headers=h),  # the parser
            client.get(USERS, params={"count": 100}, headers=h),  # a plain page
        ):
            shown = {r["id"]: r for r in listing.json()["Resources"]}
            assert shown[person["id"]] == read.json()
            assert shown[person["id"]]["meta"]["version"] == read.headers["etag"]
        unchanged = {"op": "replace", "path": "active", "value": read.json()["active"]}
        written = patch(client, h, f"{USERS}/{person['id']}", unchanged)
        assert written.status_code == 200 and written.json() == read.json()
    worker_read = client.get(f"{USERS}/{worker['id']}", headers=h).json()
    assert [g["display"] for g in worker_read["groups"]] == ["Admins", "Ops"]
    assert worker_read[ENTERPRISE]["manager"]["value"] == boss["id"]


def test_the_answer_to_a_create_is_the_person_as_reading_them_gives(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    """A create's answer is rendered without reading the person's departments and manager back:
    it must still be exactly what a read gives, with a manager, without one, and dismissed, and
    for a person who fulfils a pending invitation."""
    boss = new_user(client, h, "boss@acme.test", title="Director", external_id="ext-boss")
    invited = client.post(
        "/api/v1/invitations", json={"email": "invited@acme.test"}, headers=auth(db, org.admin)
    )
    assert invited.status_code == 201, invited.text
    created = [
        boss,
        new_user(
            client,
            h,
            "worker@acme.test",
            email_type="home",
            extension={"employeeNumber": "E-7", "department": "Ops", "manager": {"value": boss["id"]}},
        ),
        new_user(client, h, "quiet@acme.test", active=False),
        new_user(client, h, "invited@acme.test"),
    ]
    assert created[1][ENTERPRISE]["manager"]["value"] == boss["id"]
    for answer in created:
        read = client.get(f"{USERS}/{answer['id']}", headers=h)
        assert read.json() == answer
        assert read.headers["etag"] == answer["meta"]["version"]


def test_locations_follow_the_prefix_a_proxy_serves_roster_under(app: FastAPI, h: dict[str, str]) -> None:
    with TestClient(app, base_url="https://intranet.example", root_path="/people") as proxied:
        created = proxied.post("/people/scim/v2/Users", json=_plain_user("proxied@acme.test"), headers=h)
        assert created.status_code == 201, created.text
        location = f"https://intranet.example/people/scim/v2/Users/{created.json()['id']}"
        assert created.headers["location"] == created.json()["meta"]["location"] == location
        listed = proxied.get(
            "/people/scim/v2/Users", params={"filter": 'userName eq "proxied@acme.test"'}, headers=h
        )
        assert listed.json()["Resources"][0]["meta"]["location"] == location


def _plain_user(user_name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{"value": user_name, "type": "work"}],
    }


def test_etags_make_reads_and_writes_conditional(client: TestClient, h: dict[str, str]) -> None:
    created = new_user(client, h, "etag@x.test")
    url = f"{USERS}/{created['id']}"
    first = client.get(url, headers=h)
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.json()["meta"]["version"] == etag
    assert client.get(url, headers={**h, "If-None-Match": etag}).status_code == 304
    stale = patch(client, h, url, {"op": "replace", "path": "title", "value": "Boss"})
    assert stale.status_code == 200 and stale.headers["etag"] != etag
    refused = client.patch(
        url,
        json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Nope"}]},
        headers={**h, "If-Match": etag},
    )
    assert_scim_error(refused, 412)
    assert client.get(url, headers=h).json()["title"] == "Boss"
    fresh = client.get(url, headers=h).headers["etag"]
    accepted = client.put(url, json={**created, "title": "CEO"}, headers={**h, "If-Match": fresh})
    assert accepted.status_code == 200 and accepted.json()["title"] == "CEO"
    assert client.get(url, headers={**h, "If-None-Match": fresh}).status_code == 200


# --- PATCH shapes --------------------------------------------------------------------------------


def test_entra_id_patch_shapes(client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]) -> None:
    created = new_user(client, h, "entra@x.test")
    url = f"{USERS}/{created['id']}"
    answer = patch(
        client,
        h,
        url,
        {"op": "Replace", "path": "displayName", "value": "Entra Person"},
        {"op": "Replace", "path": "name.givenName", "value": "En"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "entra.new@x.test"},
        {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "42"},
        {"op": "Replace", "path": "title", "value": "Analyst"},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["displayName"] == "Entra Person" and body["name"]["givenName"] == "En"
    assert body["emails"] == [{"value": "entra.new@x.test", "type": "work"}]
    assert body[ENTERPRISE]["employeeNumber"] == "42" and body["active"] is False
    user = db.get(User, (org.org.id, uuid.UUID(created["id"])))
    assert user is not None and user.email == "entra.new@x.test" and user.status == "dismissed"
    again = patch(client, h, url, {"op": "Replace", "path": "active", "value": "True"})
    assert again.json()["active"] is True
    removed = patch(client, h, url, {"op": "Remove", "path": "title"})
    assert "title" not in removed.json()


def test_a_patched_name_carries_a_composed_display_name_with_it(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    created = new_user(client, h, "jane@x.test", given="Jane", family="Doe")
    url = f"{USERS}/{created['id']}"
    assert created["displayName"] == "Jane Doe"
    renamed = patch(client, h, url, {"op": "Replace", "path": "name.familyName", "value": "Poe"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["displayName"] == "Jane Poe"
    found = client.get("/api/v1/users/autocomplete", params={"q": "poe"}, headers=auth(db, org.admin)).json()
    assert [u["display_name"] for u in found] == ["Jane Poe"]
    # The API's own edit of the name still carries it along afterwards.
    edited = client.patch(
        f"/api/v1/users/{created['id']}", json={"last_name": "Rest"}, headers=auth(db, org.admin)
    )
    assert edited.json()["display_name"] == "Jane Rest"
    # A display name the identity provider chose stays through a change of name ...
    patch(client, h, url, {"op": "Replace", "path": "displayName", "value": "JD"})
    kept = patch(client, h, url, {"op": "Replace", "path": "name.givenName", "value": "Janet"})
    assert kept.json()["displayName"] == "JD" and kept.json()["name"]["givenName"] == "Janet"
    # ... and a name and display name sent together are both taken.
    both = patch(
        client,
        h,
        url,
        {"op": "Replace", "path": "name.givenName", "value": "Jo"},
        {"op": "Replace", "path": "displayName", "value": "Jo R."},
    )
    assert both.json()["displayName"] == "Jo R."


def test_a_person_created_without_a_name_is_named_by_the_first_name_sent(
    client: TestClient, h: dict[str, str]
) -> None:
    created = client.post(
        USERS,
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nameless@x.test"},
        headers=h,
    ).json()
    assert created["displayName"] == "nameless"
    named = patch(
        client, h, f"{USERS}/{created['id']}", {"op": "add", "path": "name.givenName", "value": "Nia"}
    )
    assert named.json()["displayName"] == "Nia"


def test_okta_patch_shapes(client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]) -> None:
    created = new_user(client, h, "okta@x.test")
    url = f"{USERS}/{created['id']}"
    answer = patch(client, h, url, {"op": "replace", "value": {"active": False}})
    assert answer.status_code == 200 and answer.json()["active"] is False
    answer = patch(
        client,
        h,
        url,
        {"op": "replace", "value": {"active": True, "name.familyName": "Oktason", "title": "PM"}},
    )
    body = answer.json()
    assert body["active"] is True and body["name"]["familyName"] == "Oktason" and body["title"] == "PM"
    answer = patch(client, h, url, {"op": "add", "value": {ENTERPRISE: {"department": "Ops"}}})
    assert answer.json()[ENTERPRISE]["department"] == "Ops"
    assert actions(db, org.org.id).count("user.dismissed") == 1
    assert actions(db, org.org.id).count("user.rehired") == 1


def _address(db: Session, org: OrgWithAdmin, user_id: str) -> str | None:
    user = db.get(User, (org.org.id, uuid.UUID(user_id)))
    assert user is not None
    db.refresh(user)
    return user.email


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": "emails", "value": [{"value": "new@x.test", "type": "work", "primary": True}]},
        {"op": "add", "path": "emails", "value": {"value": "new@x.test", "primary": "true"}},
        {"op": "add", "value": {"emails": [{"value": "new@x.test", "type": "work", "primary": True}]}},
        {"op": "replace", "path": "emails", "value": [{"value": "new@x.test", "primary": True}]},
        {"op": "replace", "path": "emails[primary eq true].value", "value": "new@x.test"},
    ],
)
def test_a_primary_address_sent_in_a_patch_becomes_the_persons_address(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str], operation: dict[str, Any]
) -> None:
    created = new_user(client, h, "old@x.test")
    answer = patch(client, h, f"{USERS}/{created['id']}", operation)
    assert answer.status_code == 200, answer.text
    assert [e["value"] for e in answer.json()["emails"]] == ["new@x.test"]
    assert _address(db, org, created["id"]) == "new@x.test"
    assert "user.updated" in actions(db, org.org.id)


def test_an_added_address_that_is_not_primary_leaves_the_persons_address(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    # Roster keeps one address per person, the primary one; another one added beside it (even of
    # the "work" type, next to a "home" one) is not kept.
    created = new_user(client, h, "home@x.test", email_type="home")
    url = f"{USERS}/{created['id']}"
    answer = patch(
        client, h, url, {"op": "add", "path": "emails", "value": [{"value": "w@x.test", "type": "work"}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["emails"] == [{"value": "home@x.test", "type": "home"}]
    assert _address(db, org, created["id"]) == "home@x.test"
    # Made primary later, by its filter, it becomes the address.
    answer = patch(
        client,
        h,
        url,
        {"op": "add", "path": "emails", "value": [{"value": "w@x.test", "type": "work"}]},
        {"op": "replace", "path": 'emails[value eq "w@x.test"].primary', "value": True},
    )
    assert answer.json()["emails"] == [{"value": "w@x.test", "type": "work"}]
    assert _address(db, org, created["id"]) == "w@x.test"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Add", "path": 'emails[type eq "home"].value', "value": "ann.home@y.test"},
        {"op": "add", "path": 'emails[type eq "other"]', "value": {"value": "ann.other@y.test"}},
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "ann.home@y.test"},
        {"op": "add", "value": {'emails[type eq "home"].value': "ann.home@y.test"}},
    ],
)
def test_an_address_added_by_a_filter_that_matches_nothing_leaves_the_persons_address(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str], operation: dict[str, Any]
) -> None:
    # An identity provider that maps a home address as well sends it on every sync: the person's
    # sign-in address (and matching by the work one) must not move to it.
    created = new_user(client, h, "ann@x.test")
    answer = patch(client, h, f"{USERS}/{created['id']}", operation)
    assert answer.status_code == 200, answer.text
    assert answer.json()["emails"] == [{"value": "ann@x.test", "type": "work"}]
    assert _address(db, org, created["id"]) == "ann@x.test"
    found = search(client, h, 'emails[type eq "work"].value eq "ann@x.test"')
    assert [r["id"] for r in found["Resources"]] == [created["id"]]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "value": {"name": {"givenName": "Anne"}}},
        {"op": "replace", "path": "name", "value": {"givenName": "Anne"}},
        {"op": "Replace", "path": "name.givenName", "value": "Anne"},
        {"op": "add", "path": "name", "value": {"givenName": "Anne"}},
    ],
)
def test_replacing_part_of_the_name_leaves_the_rest(
    client: TestClient, h: dict[str, str], operation: dict[str, Any]
) -> None:
    # RFC 7644 §3.5.2.3: sub-attributes not named in the value are left unchanged.
    created = new_user(client, h, "lee@x.test", given="Ann", family="Lee")
    answer = patch(client, h, f"{USERS}/{created['id']}", operation)
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == {"givenName": "Anne", "familyName": "Lee"}
    removed = patch(client, h, f"{USERS}/{created['id']}", {"op": "remove", "path": "name.familyName"})
    assert removed.json()["name"] == {"givenName": "Anne"}


def test_email_sub_attribute_names_are_case_insensitive(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    # RFC 7643 §2.1: attribute names are case-insensitive, the emails' sub-attributes included.
    body = {"userName": "casey", "Emails": [{"Type": "work", "Value": "casey@x.test", "Primary": True}]}
    created = client.post(USERS, json=body, headers=h)
    assert created.status_code == 201, created.text
    assert _address(db, org, created.json()["id"]) == "casey@x.test"
    answer = patch(
        client,
        h,
        f"{USERS}/{created.json()['id']}",
        {"op": "add", "path": "emails", "value": [{"Value": "casey@y.test", "Primary": "True"}]},
    )
    assert answer.status_code == 200, answer.text
    assert _address(db, org, created.json()["id"]) == "casey@y.test"


def test_the_primary_address_changed_by_its_filter_keeps_its_type(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    created = new_user(client, h, "kay@x.test", email_type="home")
    url = f"{USERS}/{created['id']}"
    answer = patch(
        client, h, url, {"op": "replace", "path": "emails[primary eq true].value", "value": "kay@y.test"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["emails"] == [{"value": "kay@y.test", "type": "home"}]


def test_a_primary_address_in_use_is_refused_by_a_patch_and_nothing_changes(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    new_user(client, h, "taken@x.test")
    created = new_user(client, h, "mine@x.test")
    before = len(actions(db, org.org.id))
    added = {"op": "add", "path": "emails", "value": [{"value": "Taken@x.test", "primary": True}]}
    assert_scim_error(patch(client, h, f"{USERS}/{created['id']}", added), 409, "uniqueness")
    assert _address(db, org, created["id"]) == "mine@x.test"
    assert len(actions(db, org.org.id)) == before


def test_repeated_deactivation_is_harmless(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    created = new_user(client, h, "twice@x.test")
    url = f"{USERS}/{created['id']}"
    for _ in range(2):
        assert patch(client, h, url, {"op": "replace", "path": "active", "value": False}).status_code == 200
    assert actions(db, org.org.id).count("user.dismissed") == 1


def test_group_member_changes_as_entra_and_okta_send_them(client: TestClient, h: dict[str, str]) -> None:
    a, b, c = (new_user(client, h, f"{n}@grp.test") for n in "abc")
    group = client.post(GROUPS, json={"displayName": "Sales", "externalId": "g-1"}, headers=h)
    assert group.status_code == 201
    url = f"{GROUPS}/{group.json()['id']}"
    added = patch(
        client,
        h,
        url,
        {
            "op": "Add",
            "path": "members",
            "value": [{"value": a["id"]}, {"value": b["id"]}, {"value": c["id"]}],
        },
    )
    assert added.status_code in (200, 204)
    members = {m["value"] for m in client.get(url, headers=h).json()["members"]}
    assert members == {a["id"], b["id"], c["id"]}
    # Entra ID: remove with a value array
    removed = patch(client, h, url, {"op": "Remove", "path": "members", "value": [{"value": a["id"]}]})
    assert removed.status_code in (200, 204)
    # Okta: remove by value filter
    removed = patch(client, h, url, {"op": "remove", "path": f'members[value eq "{b["id"]}"]'})
    assert removed.status_code in (200, 204)
    assert [m["value"] for m in client.get(url, headers=h).json()["members"]] == [c["id"]]
    renamed = patch(
        client, h, url, {"op": "replace", "value": {"id": group.json()["id"], "displayName": "Sales EU"}}
    )
    assert renamed.json()["displayName"] == "Sales EU"
    assert client.get(f"/scim/v2/Users/{c['id']}", headers=h).json()["groups"][0]["display"] == "Sales EU"
    found = client.get(GROUPS, params={"filter": 'displayName eq "sales eu"'}, headers=h).json()
    assert found["totalResults"] == 1
    assert (
        client.get(GROUPS, params={"filter": f'members eq "{c["id"]}"'}, headers=h).json()["totalResults"]
        == 1
    )
    put = client.put(url, json={"displayName": "Sales", "members": [{"value": a["id"]}]}, headers=h)
    assert [m["value"] for m in put.json()["members"]] == [a["id"]]
    assert client.delete(url, headers=h).status_code == 204
    assert_scim_error(client.get(url, headers=h), 404)


def test_a_groups_last_modified_and_version_move_with_its_members(
    client: TestClient, h: dict[str, str]
) -> None:
    a = new_user(client, h, "a@lm.test")
    group = client.post(GROUPS, json={"displayName": "Ops"}, headers=h).json()
    url = f"{GROUPS}/{group['id']}"
    clock.advance(timedelta(minutes=1))
    added = patch(client, h, url, {"op": "add", "path": "members", "value": [{"value": a["id"]}]})
    assert added.status_code in (200, 204), added.text
    after_add = client.get(url, headers=h)
    assert after_add.json()["meta"]["lastModified"] > group["meta"]["lastModified"]
    assert after_add.headers["ETag"] != group["meta"]["version"]
    clock.advance(timedelta(minutes=1))
    patch(client, h, url, {"op": "remove", "path": f'members[value eq "{a["id"]}"]'})
    after_remove = client.get(url, headers=h).json()
    assert after_remove["meta"]["lastModified"] > after_add.json()["meta"]["lastModified"]


def test_a_group_listed_with_or_without_its_members_never_shows_another_version(
    client: TestClient, h: dict[str, str]
) -> None:
    # Entra ID reads groups with excludedAttributes=members: a version made without the members
    # would not match the group's ETag, and an If-Match with it would fail though nothing changed.
    a = new_user(client, h, "a@ver.test")
    group = client.post(GROUPS, json={"displayName": "Ops", "members": [{"value": a["id"]}]}, headers=h)
    etag = client.get(f"{GROUPS}/{group.json()['id']}", headers=h).headers["ETag"]
    query = {"filter": f'id eq "{group.json()["id"]}"'}
    full = client.get(GROUPS, params=query, headers=h).json()["Resources"][0]
    assert full["meta"]["version"] == etag
    for params in ({"excludedAttributes": "members"}, {"attributes": "displayName"}):
        slim = client.get(GROUPS, params={**query, **params}, headers=h).json()["Resources"][0]
        assert "members" not in slim and "version" not in slim["meta"]
        assert slim["meta"]["lastModified"] == full["meta"]["lastModified"]
    renamed = client.patch(
        f"{GROUPS}/{group.json()['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Ops 2"}],
        },
        headers={**h, "If-Match": full["meta"]["version"]},
    )
    assert renamed.status_code in (200, 204), renamed.text


def test_a_group_refuses_members_that_are_not_users_of_the_organization(
    client: TestClient, db: Session, h: dict[str, str]
) -> None:
    other = make_org(db)
    stranger = make_user(db, other.org)
    group = client.post(GROUPS, json={"displayName": "X"}, headers=h).json()
    answer = patch(
        client,
        h,
        f"{GROUPS}/{group['id']}",
        {"op": "add", "path": "members", "value": [{"value": str(stranger.id)}]},
    )
    assert_scim_error(answer, 400, "invalidValue")


# --- seats ---------------------------------------------------------------------------------------


def test_a_full_plan_refuses_creates_and_reactivations_with_a_scim_error(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="free")
    h = scim_headers(db, o)
    created: list[dict[str, Any]] = []
    refused = None
    for i in range(14):
        answer = client.post(USERS, json={"userName": f"s{i}@seat.test"}, headers=h)
        if answer.status_code != 201:
            refused = answer
            break
        created.append(answer.json())
    assert refused is not None, "the free plan never filled up"
    body = assert_scim_error(refused, 409)
    assert "seat" in body["detail"].lower() and "free a seat" in body["detail"].lower()
    url = f"{USERS}/{created[0]['id']}"
    assert patch(client, h, url, {"op": "replace", "path": "active", "value": False}).status_code == 200
    assert client.post(USERS, json={"userName": "late@seat.test"}, headers=h).status_code == 201
    refused_again = patch(client, h, url, {"op": "replace", "path": "active", "value": True})
    assert "seat" in assert_scim_error(refused_again, 409)["detail"].lower()
    assert client.get(url, headers=h).json()["active"] is False


def test_a_disabled_person_is_provisioned_into_a_full_plan_without_a_seat(
    client: TestClient, db: Session
) -> None:
    from roster.lifecycle.invitations import invite_user
    from roster.lifecycle.seats import get_seat_ledger

    o = make_org(db, plan="free")
    invite_user(db, o.org.id, actor=o.admin, email="invited@seat.test")  # holds a seat
    h = scim_headers(db, o)
    i = 0
    while client.post(USERS, json={"userName": f"s{i}@seat.test"}, headers=h).status_code == 201:
        i += 1
    full = get_seat_ledger(db, o.org.id)
    assert full.available == 0

    disabled = client.post(USERS, json={"userName": "off@seat.test", "active": False}, headers=h)
    assert disabled.status_code == 201, disabled.text
    assert disabled.json()["active"] is False
    person = db.get(User, (o.org.id, uuid.UUID(disabled.json()["id"])))
    assert person is not None and person.status == UserStatus.DISMISSED.value and person.dismissed_at
    assert get_seat_ledger(db, o.org.id).used == full.used

    # Provisioned disabled, the invited address gives its invitation's seat back.
    invited = client.post(USERS, json={"userName": "invited@seat.test", "active": False}, headers=h)
    assert invited.status_code == 201, invited.text
    after = get_seat_ledger(db, o.org.id)
    assert (after.used, after.pending_invitations) == (full.used - 1, full.pending_invitations - 1)
    assert client.post(USERS, json={"userName": "late@seat.test"}, headers=h).status_code == 201
    # Enabling either needs a seat again, like any rehire.
    refused = patch(
        client, h, f"{USERS}/{disabled.json()['id']}", {"op": "replace", "path": "active", "value": True}
    )
    assert "seat" in assert_scim_error(refused, 409)["detail"].lower()


# --- whole sequences -----------------------------------------------------------------------------


def _sequence_audit(db: Session, org_id: uuid.UUID, user_id: str) -> list[str]:
    return [
        e.action
        for e in events(db, org_id)
        if str(e.subject_id) == user_id and e.action.startswith("user.") and e.action != "user.updated"
    ]


def test_entra_id_provision_deactivate_reactivate_delete(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    # Entra ID first looks the person up, then creates them.
    assert search(client, h, 'userName eq "jane@contoso.test"')["totalResults"] == 0
    created = client.post(
        USERS,
        headers=h,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "externalId": "jane",
            "userName": "jane@contoso.test",
            "active": True,
            "displayName": "Jane Doe",
            "emails": [{"primary": True, "type": "work", "value": "jane@contoso.test"}],
            "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
            ENTERPRISE: {"employeeNumber": "7", "department": "Legal"},
        },
    )
    assert created.status_code == 201, created.text
    url = f"{USERS}/{created.json()['id']}"
    assert search(client, h, 'userName eq "jane@contoso.test"')["totalResults"] == 1
    off = patch(client, h, url, {"op": "Replace", "path": "active", "value": "False"})
    assert off.status_code == 200 and off.json()["active"] is False
    on = patch(client, h, url, {"op": "Replace", "path": "active", "value": "True"})
    assert on.status_code == 200 and on.json()["active"] is True
    assert client.delete(url, headers=h).status_code == 204
    assert_scim_error(client.get(url, headers=h), 404)
    assert_scim_error(client.delete(url, headers=h), 404)
    assert search(client, h, 'userName eq "jane@contoso.test"')["totalResults"] == 0
    assert "jane@contoso.test" not in names(client.get(USERS, headers=h).json())
    user = db.get(User, (org.org.id, uuid.UUID(created.json()["id"])))
    assert user is not None and user.status == "deleted" and user.restorable_until is not None
    assert _sequence_audit(db, org.org.id, created.json()["id"]) == [
        "user.provisioned",
        "user.dismissed",
        "user.rehired",
        "user.deleted",
    ]
    # The userName and the email are free again at once.
    again = client.post(USERS, json={"userName": "jane@contoso.test"}, headers=h)
    assert again.status_code == 201 and again.json()["id"] != created.json()["id"]


def test_okta_provision_deactivate_reactivate_delete(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    listing = client.get(
        USERS, params={"filter": 'userName eq "sam@okta.test"', "startIndex": 1, "count": 100}, headers=h
    )
    assert listing.json()["Resources"] == []
    created = client.post(
        USERS,
        headers=h,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "sam@okta.test",
            "name": {"givenName": "Sam", "familyName": "Fox"},
            "emails": [{"primary": True, "value": "sam@okta.test", "type": "work"}],
            "displayName": "Sam Fox",
            "locale": "en-US",
            "externalId": "00u1",
            "groups": [],
            "password": "ignored-Secret-123",
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    resource = created.json()
    url = f"{USERS}/{resource['id']}"
    off = patch(client, h, url, {"op": "replace", "value": {"active": False}})
    assert off.json()["active"] is False
    on = client.put(url, json={**resource, "active": True}, headers=h)
    assert on.status_code == 200 and on.json()["active"] is True
    assert client.delete(url, headers=h).status_code == 204
    assert_scim_error(client.get(url, headers=h), 404)
    assert _sequence_audit(db, org.org.id, resource["id"]) == [
        "user.provisioned",
        "user.dismissed",
        "user.rehired",
        "user.deleted",
    ]


def test_the_system_user_and_deleted_people_never_appear(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    listed = client.get(USERS, params={"count": 1000}, headers=h).json()
    assert [r["userName"] for r in listed["Resources"]] == [org.admin.email]
    root = client.post("/scim/v2/.search", json={"filter": "userName pr"}, headers=h).json()
    assert root["totalResults"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"op": "remove", "path": "active"},
        {"op": "replace", "path": "active", "value": None},
        {"op": "replace", "value": {"active": None, "title": "Adviser"}},
        "put without active",
    ],
    ids=["remove", "replace-null", "replace-without-path", "put"],
)
def test_a_change_that_does_not_say_active_leaves_a_dismissed_person_dismissed(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str], change: Any
) -> None:
    # Only "active": true rehires (taking a seat and giving sign-in back); a profile update that
    # leaves active out, or clears it, is not a reactivation.
    resource = new_user(client, h, "left@x.test", active=False)
    url = f"{USERS}/{resource['id']}"
    if change == "put without active":
        body = {k: v for k, v in resource.items() if k not in ("active", "meta")}
        answer = client.put(url, json={**body, "title": "Adviser"}, headers=h)
    else:
        answer = patch(client, h, url, change)
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    person = db.get(User, (org.org.id, uuid.UUID(resource["id"])))
    assert person is not None and person.status == UserStatus.DISMISSED.value
    assert _sequence_audit(db, org.org.id, resource["id"]) == ["user.provisioned"]
    # A new person who is not said to be inactive is active, as before.
    assert new_user(client, h, "fresh@x.test")["active"] is True


def test_dismissed_people_can_be_placed_in_groups_by_the_identity_provider(
    client: TestClient, h: dict[str, str]
) -> None:
    gone = new_user(client, h, "gone@x.test", active=False)
    group = client.post(GROUPS, json={"displayName": "Alumni", "members": [{"value": gone["id"]}]}, headers=h)
    assert group.status_code == 201, group.text
    assert [m["value"] for m in group.json()["members"]] == [gone["id"]]


def test_a_search_at_the_root_covers_users_and_groups(client: TestClient, h: dict[str, str]) -> None:
    new_user(client, h, "root@x.test")
    client.post(GROUPS, json={"displayName": "Root group"}, headers=h)
    both = client.post(
        "/scim/v2/.search", json={"filter": 'displayName sw "root" or userName eq "root@x.test"'}, headers=h
    )
    assert both.status_code == 200, both.text
    kinds = sorted(r["meta"]["resourceType"] for r in both.json()["Resources"])
    assert kinds == ["Group", "User"]
    only_groups = client.post(
        "/scim/v2/.search", json={"filter": 'members pr or displayName eq "Root group"'}, headers=h
    )
    assert [r["displayName"] for r in only_groups.json()["Resources"]] == ["Root group"]
    assert_scim_error(
        client.post("/scim/v2/.search", json={"filter": 'nickName eq "x"'}, headers=h), 400, "invalidFilter"
    )


def test_erasure_can_forget_what_the_identity_provider_said(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    from roster.scim.service import forget_scim_identity

    created = new_user(client, h, "upn.person", extension={"employeeNumber": "9"}, external_id="x-1")
    user = db.get(User, (org.org.id, uuid.UUID(created["id"])))
    assert user is not None and user.scim_user_name == "upn.person"
    forget_scim_identity(user)
    assert (user.scim_user_name, user.external_id, user.employee_number) == (None, None, None)


# --- nothing malformed gives a 5xx ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
scim_keys = st.sampled_from(
    [
        "userName",
        "name",
        "emails",
        "active",
        "displayName",
        "title",
        "externalId",
        ENTERPRISE,
        "members",
        "Operations",
        "op",
        "path",
        "value",
        "givenName",
        "type",
        "manager",
        "filter",
        "startIndex",
        "count",
    ]
)
scim_objects = st.dictionaries(scim_keys | st.text(max_size=8), json_values, max_size=6)
paths = st.sampled_from(
    [
        "active",
        "emails",
        'emails[type eq "work"].value',
        "name.givenName",
        f"{ENTERPRISE}:manager",
        "members",
        'members[value eq "x"]',
        "title[",
        "",
        "urn:x:y",
        "meta.created",
        "id",
        "groups",
    ]
) | st.text(max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=scim_objects,
    op=st.sampled_from(["add", "Replace", "remove", "x"]) | st.text(max_size=5),
    path=paths,
    value=json_values,
    scim_filter=st.text(max_size=40),
)
def test_malformed_requests_never_cause_a_server_error(
    client: TestClient,
    h: dict[str, str],
    body: dict[str, Any],
    op: str,
    path: str,
    value: Any,
    scim_filter: str,
) -> None:
    user = client.get(USERS, params={"count": 1}, headers=h).json()["Resources"][0]
    group_id = str(uuid.uuid4())
    answers = [
        client.post(USERS, json=body, headers=h),
        client.put(f"{USERS}/{user['id']}", json=body, headers=h),
        patch(client, h, f"{USERS}/{user['id']}", {"op": op, "path": path, "value": value}),
        client.patch(f"{USERS}/{user['id']}", json=body, headers=h),
        client.post(GROUPS, json=body, headers=h),
        client.patch(f"{GROUPS}/{group_id}", json=body, headers=h),
        client.get(USERS, params={"filter": scim_filter}, headers=h),
        client.get(GROUPS, params={"filter": scim_filter, "sortBy": path}, headers=h),
        client.post(f"{USERS}/.search", json=body, headers=h),
        client.get(USERS, params={"attributes": path, "startIndex": scim_filter}, headers=h),
    ]
    for answer in answers:
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert answer.json()["schemas"] == [ERROR]


def test_deleting_a_manager_leaves_their_reports_without_a_visible_manager(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    boss = new_user(client, h, "boss@x.test")
    report = new_user(client, h, "report@x.test", extension={"manager": {"value": boss["id"]}})
    assert report[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert client.delete(f"{USERS}/{boss['id']}", headers=h).status_code == 204
    after = client.get(f"{USERS}/{report['id']}", headers=h).json()
    assert "manager" not in after.get(ENTERPRISE, {})
    assert names(search(client, h, f'manager.value eq "{boss["id"]}"')) == []


def test_a_manager_must_be_a_user_this_client_may_see(
    client: TestClient, db: Session, org: OrgWithAdmin, h: dict[str, str]
) -> None:
    """Who may be named manager is who SCIM shows: not the System User, not someone deleted, not
    a person of another organization, not the person themself; nothing is written otherwise."""
    from sqlalchemy import func, select

    from roster.accounts.models import User

    boss = new_user(client, h, "boss@x.test")
    gone = new_user(client, h, "gone@x.test")
    assert client.delete(f"{USERS}/{gone['id']}", headers=h).status_code == 204
    system = db.scalar(select(User.id).where(User.org_id == org.org.id, User.is_system.is_(True)))
    elsewhere = make_org(db)
    for manager in (str(system), gone["id"], str(elsewhere.admin.id), str(uuid.uuid4())):
        before = db.scalar(select(func.count()).select_from(User))
        body = {
            "userName": "new@x.test",
            "emails": [{"value": "new@x.test"}],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            ENTERPRISE: {"manager": {"value": manager}},
        }
        assert_scim_error(client.post(USERS, json=body, headers=h), 400, "invalidValue")
        assert db.scalar(select(func.count()).select_from(User)) == before
    themself = {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}}
    assert_scim_error(patch(client, h, f"{USERS}/{boss['id']}", themself), 400, "invalidValue")
    named = new_user(client, h, "named@x.test", extension={"manager": {"value": boss["id"]}})
    assert named[ENTERPRISE]["manager"]["value"] == boss["id"]


def test_one_group_patch_may_remove_the_external_id_and_rename(client: TestClient, h: dict[str, str]) -> None:
    group = client.post(GROUPS, json={"displayName": "Old", "externalId": "ext-1"}, headers=h).json()
    url = f"{GROUPS}/{group['id']}"
    answer = patch(
        client,
        h,
        url,
        {"op": "remove", "path": "externalId"},
        {"op": "replace", "path": "displayName", "value": "New"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["displayName"] == "New" and "externalId" not in answer.json()
    assert_scim_error(patch(client, h, url, {"op": "remove", "path": "displayName"}), 400, "mutability")
    assert_scim_error(
        patch(client, h, url, {"op": "add", "path": "nickName", "value": "x"}), 400, "invalidPath"
    )


def test_an_identity_provider_sets_a_persons_time_zone(
    client: TestClient, db: Session, h: dict[str, str]
) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "tz.person@x.test",
        "emails": [{"value": "tz.person@x.test"}],
        "timezone": "america/los_angeles",
    }
    made = client.post(USERS, json=body, headers=h)
    assert made.status_code == 201 and made.json()["timezone"] == "America/Los_Angeles"
    url = made.json()["meta"]["location"]
    user = db.get(User, (db.scalars(select_org_of(made.json()["id"])).one(), uuid.UUID(made.json()["id"])))
    assert user is not None and user.timezone == "America/Los_Angeles"
    assert names(search(client, h, 'timezone eq "America/Los_Angeles"')) == ["tz.person@x.test"]
    changed = patch(client, h, url, {"op": "replace", "path": "timezone", "value": "Europe/Paris"})
    assert changed.status_code == 200 and changed.json()["timezone"] == "Europe/Paris"
    refused = patch(client, h, url, {"op": "replace", "path": "timezone", "value": "Pacific Standard Time"})
    assert "is not an IANA time zone name" in assert_scim_error(refused, 400, "invalidValue")["detail"]
    assert client.get(url, headers=h).json()["timezone"] == "Europe/Paris"
    removed = patch(client, h, url, {"op": "remove", "path": "timezone"})
    assert removed.status_code == 200 and "timezone" not in removed.json()  # the organization's again
    refused_create = client.post(
        USERS, json={**body, "userName": "other@x.test", "emails": [], "timezone": "Mars"}, headers=h
    )
    assert_scim_error(refused_create, 400, "invalidValue")
    assert search(client, h, 'userName eq "other@x.test"')["totalResults"] == 0


def select_org_of(user_id: str) -> Any:
    from sqlalchemy import select

    return select(User.org_id).where(User.id == uuid.UUID(user_id))
