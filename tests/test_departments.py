"""Departments: the tree, heads, members, and the routes."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.directory import departments as depts
from roster.domain import errors
from roster.lifecycle.models import AuditEvent
from tests.factories import auth, make_org, make_user


def _actions(db: Session, org_id: uuid.UUID) -> list[str]:
    return list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq))
    )


def test_departments_form_a_tree_and_refuse_cycles(db: Session) -> None:
    o = make_org(db)
    top = depts.create_department(db, o.org.id, actor=o.admin, name="Company")
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales", parent_id=top.id)
    emea = depts.create_department(db, o.org.id, actor=o.admin, name="EMEA", parent_id=sales.id)
    with pytest.raises(errors.DepartmentCycle):
        depts.update_department(db, top, actor=o.admin, parent_id=emea.id)
    with pytest.raises(errors.DepartmentCycle):
        depts.update_department(db, sales, actor=o.admin, parent_id=sales.id)
    assert top.parent_id is None
    depts.update_department(db, emea, actor=o.admin, parent_id=top.id, name="  Europe  ")
    assert (emea.parent_id, emea.name) == (top.id, "Europe")
    assert "department.created" in _actions(db, o.org.id)
    assert "department.updated" in _actions(db, o.org.id)


def test_heads_and_new_members_must_be_active(db: Session) -> None:
    o = make_org(db)
    gone = make_user(db, o.org, dismissed=True)
    with pytest.raises(errors.InactiveUser):
        depts.create_department(db, o.org.id, actor=o.admin, name="Ops", head_id=gone.id)
    ops = depts.create_department(db, o.org.id, actor=o.admin, name="Ops")
    with pytest.raises(errors.InactiveUser):
        depts.add_department_members(db, ops, [gone.id], actor=o.admin)
    assert depts.list_department_members(db, ops, include_inactive=True) == ([], 0)


def test_membership_sets_the_primary_department_and_removal_moves_it(db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    a = depts.create_department(db, o.org.id, actor=o.admin, name="A")
    b = depts.create_department(db, o.org.id, actor=o.admin, name="B")
    assert depts.add_department_members(db, a, [erin.id, erin.id], actor=None) == [erin.id]
    depts.add_department_members(db, b, [erin.id], actor=None)
    db.refresh(erin)
    assert erin.primary_department_id == a.id
    assert depts.list_user_department_ids(db, erin) == [a.id, b.id]
    depts.remove_department_members(db, a, [erin.id], actor=None)
    db.refresh(erin)
    assert erin.primary_department_id == b.id
    added, removed = depts.set_department_members(db, b, [o.admin.id], actor=None)
    assert (added, removed) == ([o.admin.id], [erin.id])
    db.refresh(erin)
    assert erin.primary_department_id is None


def test_deleting_a_department_moves_children_up_and_ends_memberships(db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    top = depts.create_department(db, o.org.id, actor=o.admin, name="Top")
    mid = depts.create_department(db, o.org.id, actor=o.admin, name="Mid", parent_id=top.id)
    low = depts.create_department(db, o.org.id, actor=o.admin, name="Low", parent_id=mid.id)
    depts.add_department_members(db, mid, [erin.id], actor=o.admin)
    depts.delete_department(db, mid, actor=o.admin)
    db.refresh(low)
    db.refresh(erin)
    assert low.parent_id == top.id
    assert erin.primary_department_id is None
    with pytest.raises(errors.NotFound):
        depts.get_department(db, o.org.id, mid.id)
    assert "department.deleted" in _actions(db, o.org.id)


def test_list_departments_filters_by_name_case_insensitively(db: Session) -> None:
    o = make_org(db)
    depts.create_department(db, o.org.id, actor=None, name="Sales", external_id="x-1")
    depts.create_department(db, o.org.id, actor=None, name="Support")
    other = make_org(db)
    depts.create_department(db, other.org.id, actor=None, name="Sales")
    items, total = depts.list_departments(db, o.org.id, name_filter="SALES")
    assert total == 1 and items[0].external_id == "x-1"
    assert depts.list_departments(db, o.org.id)[1] == 2
    assert depts.get_department_by_external_id(db, o.org.id, "x-1") is not None


API = "/api/v1"


def test_admins_manage_departments_through_the_api(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org, first_name="Erin", last_name="Head")
    answer = client.post(
        f"{API}/departments", json={"name": "Engineering", "head_id": str(erin.id)}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    eng = answer.json()
    assert eng["head"] == {
        "id": str(erin.id),
        "display_name": "Erin Head",
        "status": "active",
        "is_system": False,
    }
    sub = client.post(
        f"{API}/departments", json={"name": "Platform", "parent_id": eng["id"]}, headers=admin
    ).json()
    answer = client.patch(f"{API}/departments/{eng['id']}", json={"parent_id": sub["id"]}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (422, "department_cycle")
    answer = client.patch(
        f"{API}/departments/{eng['id']}", json={"head_id": None, "name": "R&D"}, headers=admin
    )
    assert (answer.json()["name"], answer.json()["head"]) == ("R&D", None)
    answer = client.post(
        f"{API}/departments/{sub['id']}/members", json={"user_ids": [str(erin.id)]}, headers=admin
    )
    assert answer.status_code == 200 and [u["id"] for u in answer.json()["items"]] == [str(erin.id)]
    members = client.get(f"{API}/departments/{sub['id']}/members", headers=auth(db, erin)).json()
    assert members["total"] == 1 and members["items"][0]["department_id"] == sub["id"]
    listed = client.get(f"{API}/departments", headers=auth(db, erin)).json()
    assert [d["name"] for d in listed["items"]] == ["Platform", "R&D"]
    assert client.get(f"{API}/departments", params={"name": "r&d"}, headers=admin).json()["total"] == 1
    assert client.delete(f"{API}/departments/{sub['id']}/members/{erin.id}", headers=admin).status_code == 204
    assert client.delete(f"{API}/departments/{sub['id']}/members/{erin.id}", headers=admin).status_code == 404
    assert client.delete(f"{API}/departments/{eng['id']}", headers=admin).status_code == 204
    assert client.get(f"{API}/departments/{sub['id']}", headers=admin).json()["parent_id"] is None
    assert client.get(f"{API}/departments/{eng['id']}", headers=admin).status_code == 404


def test_department_routes_refuse_bad_input_with_clear_codes(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    gone = make_user(db, o.org, dismissed=True)
    answer = client.post(f"{API}/departments", json={"name": "X", "head_id": str(gone.id)}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (422, "inactive_user")
    dept = client.post(f"{API}/departments", json={"name": "X"}, headers=admin).json()
    answer = client.post(
        f"{API}/departments/{dept['id']}/members", json={"user_ids": [str(gone.id)]}, headers=admin
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "inactive_user")
    answer = client.post(
        f"{API}/departments/{dept['id']}/members", json={"user_ids": [str(uuid.uuid4())]}, headers=admin
    )
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        422,
        "unknown_user",
        "user_ids",
    )
    assert client.post(f"{API}/departments", json={"name": "   "}, headers=admin).status_code == 422
    assert (
        client.patch(f"{API}/departments/{dept['id']}", json={"name": None}, headers=admin).status_code == 422
    )
    answer = client.post(
        f"{API}/departments", json={"name": "Y", "parent_id": str(uuid.uuid4())}, headers=admin
    )
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        422,
        "unknown_department",
        "parent_id",
    )
    assert (
        client.post(
            f"{API}/departments", json={"name": "Z"}, headers=auth(db, make_user(db, o.org))
        ).status_code
        == 403
    )


def test_a_person_or_department_of_another_organization_in_a_body_is_a_bad_field_not_a_404(
    client: TestClient, db: Session
) -> None:
    # The path names what is acted on (404 when it does not exist); an id in the body that names no
    # one here is a bad field, as a task's responsible_id or a merge's into_id is.
    o = make_org(db)
    other = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org)
    stranger = make_user(db, other.org)
    theirs = depts.create_department(db, other.org.id, actor=other.admin, name="Theirs")
    dept = client.post(f"{API}/departments", json={"name": "Ours"}, headers=admin).json()
    refused = [
        ("post", f"{API}/departments", {"name": "A", "head_id": str(stranger.id)}, "unknown_user", "head_id"),
        (
            "patch",
            f"{API}/departments/{dept['id']}",
            {"head_id": str(stranger.id)},
            "unknown_user",
            "head_id",
        ),
        (
            "post",
            f"{API}/departments",
            {"name": "B", "parent_id": str(theirs.id)},
            "unknown_department",
            "parent_id",
        ),
        (
            "patch",
            f"{API}/departments/{dept['id']}",
            {"parent_id": str(theirs.id)},
            "unknown_department",
            "parent_id",
        ),
        (
            "post",
            f"{API}/departments/{dept['id']}/members",
            {"user_ids": [str(erin.id), str(stranger.id)]},
            "unknown_user",
            "user_ids",
        ),
        (
            "patch",
            f"{API}/users/{erin.id}",
            {"position": "Lead", "department_id": str(theirs.id)},
            "unknown_department",
            "department_id",
        ),
        (  # the same code as a CSV row naming a department that does not exist
            "post",
            f"{API}/invitations",
            {"email": "new@example.test", "department_id": str(theirs.id)},
            "unknown_department",
            "department_id",
        ),
    ]
    for method, url, body, code, field in refused:
        answer = client.request(method, url, json=body, headers=admin)
        assert answer.status_code == 422, (url, body, answer.text)
        assert (answer.json()["code"], answer.json()["field"]) == (code, field), (url, body)
    shown = client.get(f"{API}/departments/{dept['id']}", headers=admin).json()
    assert (shown["head"], shown["parent_id"]) == (None, None)
    assert client.get(f"{API}/departments/{dept['id']}/members", headers=admin).json()["total"] == 0
    person = client.get(f"{API}/users/{erin.id}", headers=admin).json()
    assert (person["position"], person["department_id"]) == ("", None)
    assert [n for n in _actions(db, o.org.id) if n != "department.created"] == []


def test_a_dismissed_head_is_hidden_from_employees_but_shown_to_admins(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    boss = make_user(db, o.org, first_name="Bo", last_name="Boss")
    dept = depts.create_department(db, o.org.id, actor=o.admin, name="Ops", head_id=boss.id)
    assert (
        client.post(f"{API}/users/{boss.id}/dismiss", json={}, headers=auth(db, o.admin)).status_code == 200
    )
    seen = client.get(f"{API}/departments/{dept.id}", headers=auth(db, make_user(db, o.org))).json()
    assert seen["head"] is None
    seen = client.get(f"{API}/departments/{dept.id}", headers=auth(db, o.admin)).json()
    assert seen["head"]["status"] == "dismissed"


def test_concurrent_additions_of_the_same_member_make_one_membership(databases) -> None:  # type: ignore[no-untyped-def]
    import threading

    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
    from roster.directory.models import DepartmentMember

    engine = make_engine(databases.new_database())
    factory = make_sessionmaker(writer(engine))
    with transaction(factory) as session:
        o = make_org(session)
        erin = make_user(session, o.org)
        dept = depts.create_department(session, o.org.id, actor=None, name="Ops")
        org_id, dept_id, erin_id = o.org.id, dept.id, erin.id
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def add() -> None:
        try:
            barrier.wait()
            with transaction(factory) as session:
                department = depts.get_department(session, org_id, dept_id)
                depts.add_department_members(session, department, [erin_id], actor=None)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with factory() as session:
        rows = session.scalars(select(DepartmentMember).where(DepartmentMember.org_id == org_id)).all()
    engine.dispose()
    assert failures == []
    assert [r.user_id for r in rows] == [erin_id]
