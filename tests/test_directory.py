"""The directory and profiles: employees only ever meet active colleagues; admins see everyone."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.directory import departments as depts
from roster.lifecycle.models import AuditEvent
from tests.factories import auth, make_org, make_user

API = "/api/v1"


def _events(db: Session, org_id: uuid.UUID, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.action == action))
    )


def _ok(answer, code: int = 200):  # type: ignore[no-untyped-def]
    assert answer.status_code == code, answer.text
    return answer.json()


def test_employees_never_list_or_find_people_who_are_not_active(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    employee = make_user(db, o.org, first_name="Eve", last_name="Worker")
    headers = auth(db, employee)
    dismissed = make_user(db, o.org, first_name="Dorian", last_name="Quitter", email="dorian@x.test")
    deleted = make_user(db, o.org, first_name="Delia", last_name="Removed", email="delia@x.test")
    erased = make_user(db, o.org, first_name="Erasmus", last_name="Forgotten", email="erasmus@x.test")
    team = depts.create_department(db, o.org.id, actor=o.admin, name="Team", head_id=dismissed.id)
    depts.add_department_members(db, team, [employee.id, dismissed.id, deleted.id, erased.id], actor=o.admin)
    _ok(client.post(f"{API}/users/{dismissed.id}/dismiss", json={}, headers=admin))
    _ok(client.post(f"{API}/users/{deleted.id}/delete", json={"confirm": "delia@x.test"}, headers=admin))
    _ok(client.post(f"{API}/users/{erased.id}/erase", json={"confirm": "erasmus@x.test"}, headers=admin))
    hidden = {str(dismissed.id), str(deleted.id), str(erased.id)}
    names = [
        "Dorian",
        "Quitter",
        "dorian@x.test",
        "Delia",
        "Removed",
        "delia",
        "Erasmus",
        "Forgotten",
        "er",
        "d",
        "",
    ]

    def leaks(text: str) -> bool:
        return any(i in text for i in hidden) or any(
            n in text for n in ("Dorian", "Quitter", "Delia", "Removed", "Erasmus", "Forgotten")
        )

    for q in names:
        for url, params in [
            (f"{API}/users", {"q": q}),
            (f"{API}/users", {"q": q, "department_id": str(team.id)}),
            (f"{API}/users", {"q": q, "per_page": 200}),
            (f"{API}/users/autocomplete", {"q": q, "limit": 50}),
        ]:
            answer = client.get(url, params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            assert not leaks(answer.text), (url, params, answer.text)
    for status in ("dismissed", "deleted", "all"):
        answer = client.get(f"{API}/users", params={"status": status}, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    members = client.get(f"{API}/departments/{team.id}/members", headers=headers)
    assert members.status_code == 200 and not leaks(members.text)
    assert [m["id"] for m in members.json()["items"]] == [str(employee.id)]
    assert client.get(f"{API}/departments/{team.id}/members?status=all", headers=headers).status_code == 403
    for url in (f"{API}/departments", f"{API}/departments/{team.id}"):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200 and not leaks(answer.text), answer.text
    for user_id in hidden:
        assert client.get(f"{API}/users/{user_id}", headers=headers).status_code == 404
        assert (
            client.patch(f"{API}/users/{user_id}", json={"position": "x"}, headers=headers).status_code == 404
        )

    # Admins find them only by asking for them.
    everyone = _ok(client.get(f"{API}/users", params={"per_page": 200}, headers=admin))
    assert not hidden & {u["id"] for u in everyone["items"]}
    found = _ok(client.get(f"{API}/users", params={"status": "dismissed", "q": "dor"}, headers=admin))
    assert [u["id"] for u in found["items"]] == [str(dismissed.id)]
    found = _ok(client.get(f"{API}/users", params={"status": "deleted", "q": "delia"}, headers=admin))
    assert [u["id"] for u in found["items"]] == [str(deleted.id)]
    found = _ok(client.get(f"{API}/users", params={"status": "all", "per_page": 200}, headers=admin))
    assert hidden <= {u["id"] for u in found["items"]}
    # An erased person's name is gone, from search keys too.
    assert (
        _ok(client.get(f"{API}/users", params={"status": "all", "q": "erasm"}, headers=admin))["total"] == 0
    )
    assert _ok(client.get(f"{API}/users/autocomplete", params={"q": "dor"}, headers=admin)) == []
    assert _ok(client.get(f"{API}/users/{dismissed.id}", headers=admin))["status"] == "dismissed"


def test_the_directory_lists_active_people_by_name_with_paging(client: TestClient, db: Session) -> None:
    o = make_org(db)
    for first in ("Cleo", "Abe", "Bea"):
        make_user(db, o.org, first_name=first, last_name="Park")
    page1 = _ok(client.get(f"{API}/users", params={"per_page": 2}, headers=auth(db, o.admin)))
    page2 = _ok(client.get(f"{API}/users", params={"per_page": 2, "page": 2}, headers=auth(db, o.admin)))
    assert page1["total"] == page2["total"] == 4  # the admin too; never the System User
    names = [u["display_name"] for u in page1["items"] + page2["items"]]
    assert names == ["Abe Park", "Ada Admin", "Bea Park", "Cleo Park"]
    assert client.get(f"{API}/users", params={"per_page": 500}, headers=auth(db, o.admin)).status_code == 422
    assert client.get(f"{API}/users", params={"status": "gone"}, headers=auth(db, o.admin)).status_code == 422


def test_the_directory_is_read_on_by_cursor_in_the_same_order_as_by_page(
    client: TestClient, db: Session
) -> None:
    """``next`` (and the Link header) lead through the whole list, the same people in the same
    order as the pages, namesakes included (ties go by id), with filters kept."""
    o = make_org(db)
    admin = auth(db, o.admin)
    for first in ("Cleo", "Abe", "Bea", "Bea", "Bea", "Dan", "Éva"):
        make_user(db, o.org, first_name=first, last_name="Park")
    make_user(db, o.org, first_name="Zed", last_name="Gone", dismissed=True)
    by_page = []
    for page in (1, 2, 3):
        by_page += _ok(client.get(f"{API}/users", params={"per_page": 3, "page": page}, headers=admin))[
            "items"
        ]
    assert len(by_page) == 8

    seen, params, links = [], {"per_page": 3}, []
    while True:
        answer = client.get(f"{API}/users", params=params, headers=admin)
        body = _ok(answer)
        assert body["total"] == 8
        seen += body["items"]
        rels = _links(answer)
        assert ("prev" in rels) == (body["prev"] is not None) == bool(links)
        if body["next"] is None:
            assert "next" not in rels
            break
        link = rels["next"]
        assert link.startswith(f"http://testserver{API}/users?") and "page=" not in link.replace(
            "per_page=", ""
        )
        links.append(link)
        params = {"per_page": 3, "after": body["next"]}
    assert [u["id"] for u in seen] == [u["id"] for u in by_page]
    assert len(links) == 2  # 3 + 3 + 2: no empty page at the end
    # The Link header is the same request, read on.
    assert [u["id"] for u in _ok(client.get(links[0], headers=admin))["items"]] == [
        u["id"] for u in by_page[3:6]
    ]
    # ``prev`` (and rel="prev") lead back through the same pages, to the first, which has none.
    back, params = [], {"per_page": 3, "before": body["prev"]}
    while True:
        answer = client.get(f"{API}/users", params=params, headers=admin)
        body = _ok(answer)
        back = body["items"] + back
        assert body["next"] is not None and body["total"] == 8
        if body["prev"] is None:
            assert "prev" not in _links(answer)
            break
        assert _links(answer)["prev"].endswith("before=" + body["prev"])
        params = {"per_page": 3, "before": body["prev"]}
    assert [u["id"] for u in back] == [u["id"] for u in by_page[:6]]

    # With a prefix and a status, the cursor keeps to them.
    first = _ok(client.get(f"{API}/users", params={"q": "bea", "per_page": 2}, headers=admin))
    rest = _ok(
        client.get(f"{API}/users", params={"q": "bea", "per_page": 2, "after": first["next"]}, headers=admin)
    )
    assert [u["display_name"] for u in first["items"] + rest["items"]] == ["Bea Park"] * 3
    assert rest["next"] is None and rest["total"] == 3
    everyone = _ok(client.get(f"{API}/users", params={"status": "all", "per_page": 200}, headers=admin))
    assert everyone["total"] == 9 and everyone["next"] is None


def _links(answer: Any) -> dict[str, str]:
    """The Link header's addresses by their rel."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', answer.headers.get("link", ""))}


def test_a_cursor_the_directory_did_not_give_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    good = _ok(client.get(f"{API}/users", params={"per_page": 1, "status": "all"}, headers=admin))
    assert good["total"] == 1 and good["next"] is None  # the admin alone
    make_user(db, o.org)
    cursor = _ok(client.get(f"{API}/users", params={"per_page": 1}, headers=admin))["next"]
    for bad in ("x", "!!!", "e30", "WyJhIl0", "WzEsMl0", "WyJhIiwibm90LWEtdXVpZCJd", "a" * 2000):
        answer = client.get(f"{API}/users", params={"after": bad}, headers=admin)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "validation_failed", answer.text
        answer = client.get(f"{API}/users", params={"before": bad}, headers=admin)
        assert answer.status_code == 422 and answer.json()["field"] == "before", (bad, answer.text)
    for params in (
        {"after": cursor, "page": 2},
        {"before": cursor, "page": 2},
        {"after": cursor, "before": cursor},
    ):
        both = client.get(f"{API}/users", params=params, headers=admin)
        assert both.status_code == 422 and both.json()["code"] == "validation_failed", params


def test_the_directory_filters_by_department_and_prefix(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="Lind")
    make_user(db, o.org, first_name="Anton", last_name="Berg")
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    depts.add_department_members(db, sales, [ann.id], actor=o.admin)
    answer = _ok(
        client.get(f"{API}/users", params={"q": "an", "department_id": str(sales.id)}, headers=auth(db, ann))
    )
    assert [u["id"] for u in answer["items"]] == [str(ann.id)]
    assert answer["items"][0]["department_id"] == str(sales.id)
    assert _ok(client.get(f"{API}/users", params={"q": "AN"}, headers=auth(db, ann)))["total"] == 2


def test_the_directory_is_scoped_to_the_organization(client: TestClient, db: Session) -> None:
    mine = make_org(db)
    theirs = make_org(db)
    stranger = make_user(db, theirs.org, first_name="Stranger", last_name="Danger")
    me = auth(db, mine.admin)
    assert _ok(client.get(f"{API}/users", params={"q": "stra", "status": "all"}, headers=me))["total"] == 0
    assert _ok(client.get(f"{API}/users/autocomplete", params={"q": "stra"}, headers=me)) == []
    assert client.get(f"{API}/users/{stranger.id}", headers=me).status_code == 404


def test_a_display_name_made_from_the_address_follows_the_first_name_given(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    nameless = make_user(db, o.org, first_name="", last_name="")
    nameless.display_name = nameless.email.split("@")[0]
    db.flush()
    body = _ok(
        client.patch(f"{API}/users/{nameless.id}", json={"first_name": "Nia"}, headers=auth(db, nameless))
    )
    assert body["display_name"] == "Nia"


def test_people_edit_their_own_profile_and_not_others(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Old")
    other = make_user(db, o.org, first_name="Finn", last_name="Other")
    headers = auth(db, erin)
    body = _ok(
        client.patch(
            f"{API}/users/{erin.id}", json={"last_name": "Nyström", "position": "Lead"}, headers=headers
        )
    )
    assert (body["display_name"], body["position"]) == ("Erin Nyström", "Lead")
    assert [
        u["id"] for u in _ok(client.get(f"{API}/users/autocomplete", params={"q": "nystr"}, headers=headers))
    ] == [str(erin.id)]
    body = _ok(client.patch(f"{API}/users/{erin.id}", json={"display_name": "E. N."}, headers=headers))
    assert body["display_name"] == "E. N."
    assert (
        client.patch(f"{API}/users/{other.id}", json={"position": "x"}, headers=headers).json()["code"]
        == "forbidden"
    )
    answer = client.patch(f"{API}/users/{erin.id}", json={"role": "admin"}, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    dept = depts.create_department(db, o.org.id, actor=o.admin, name="Board")
    answer = client.patch(f"{API}/users/{erin.id}", json={"department_id": str(dept.id)}, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    # The address is the sign-in name: only an administrator changes it.
    answer = client.patch(f"{API}/users/{erin.id}", json={"email": "x@y.z"}, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert (
        client.patch(f"{API}/users/{erin.id}", json={"display_name": "  "}, headers=headers).status_code
        == 422
    )
    db.refresh(erin)
    assert erin.role == "employee"
    assert [e.details["fields"] for e in _events(db, o.org.id, "user.updated")] == [
        ["display_name", "last_name", "position"],
        ["display_name"],
    ]


def test_admins_edit_anyone_and_change_roles_but_keep_one_admin(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org, first_name="Erin", last_name="Doe")
    dept = depts.create_department(db, o.org.id, actor=o.admin, name="Ops")
    body = _ok(
        client.patch(
            f"{API}/users/{erin.id}",
            json={"position": "CTO", "role": "admin", "department_id": str(dept.id)},
            headers=admin,
        )
    )
    assert (body["position"], body["role"], body["department_id"]) == ("CTO", "admin", str(dept.id))
    assert [e.details for e in _events(db, o.org.id, "user.role_changed")] == [
        {"from": "employee", "to": "admin"}
    ]
    _ok(client.patch(f"{API}/users/{erin.id}", json={"role": "employee"}, headers=admin))
    answer = client.patch(f"{API}/users/{o.admin.id}", json={"role": "employee"}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (409, "last_admin")
    db.refresh(o.admin)
    assert o.admin.role == "admin"


def test_the_system_user_cannot_be_edited(client: TestClient, db: Session) -> None:
    o = make_org(db)
    system = db.scalars(select(User).where(User.org_id == o.org.id, User.is_system.is_(True))).one()
    answer = client.patch(f"{API}/users/{system.id}", json={"position": "x"}, headers=auth(db, o.admin))
    assert (answer.status_code, answer.json()["code"]) == (409, "system_user_immutable")


def test_employees_see_themselves_and_active_colleagues(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    colleague = make_user(db, o.org)
    headers = auth(db, erin)
    assert _ok(client.get(f"{API}/users/{erin.id}", headers=headers))["id"] == str(erin.id)
    assert _ok(client.get(f"{API}/users/{colleague.id}", headers=headers))["status"] == "active"


def test_control_characters_are_refused_in_names_and_ignored_in_queries(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Nul")
    headers = auth(db, erin)
    answer = client.patch(f"{API}/users/{erin.id}", json={"first_name": "E\u0000rin"}, headers=headers)
    assert (answer.status_code, answer.json()["field"]) == (422, "first_name")
    for url in (f"{API}/users", f"{API}/users/autocomplete"):
        answer = client.get(url, params={"q": "Er\x00in"}, headers=headers)
        assert answer.status_code == 200, answer.text
    assert (
        client.post(f"{API}/departments", json={"name": "a\u0007b"}, headers=auth(db, o.admin)).status_code
        == 422
    )
