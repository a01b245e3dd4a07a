"""Tasks through the API: create, "my tasks" by role, who sees and who changes, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.tasks.models import Task, TaskObserver, TaskParticipant
from tests.factories import auth, make_org, make_user

API = "/api/v1"


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    answer = client.post(f"{API}/tasks", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _count(db: Session, model: type[Any], *, shown: bool = False) -> int:
    """The rows of ``model``; with ``shown``, only those not hidden (by the trash or a deletion)."""
    query = select(func.count()).select_from(model)
    return db.scalar(query.where(model.hidden_by.is_(None)) if shown else query) or 0


def test_creating_a_task_names_everyone_involved(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator = make_user(db, o.org, first_name="Cleo")
    responsible = make_user(db, o.org, first_name="Rita")
    participant = make_user(db, o.org, first_name="Pia")
    observer = make_user(db, o.org, first_name="Otto")

    task = _create(
        client,
        auth(db, creator),
        title="  Prepare the Q3 report  ",
        responsible_id=str(responsible.id),
        participant_ids=[str(participant.id), str(participant.id)],
        observer_ids=[str(observer.id)],
        deadline="2026-12-01T17:00:00+02:00",
        description="Numbers from finance.\nCharts from design.",
    )

    assert task["title"] == "Prepare the Q3 report"
    assert task["status"] == "open"
    assert task["creator"] == {
        "id": str(creator.id),
        "display_name": creator.display_name,
        "status": "active",
        "is_system": False,
    }
    assert task["responsible"]["id"] == str(responsible.id)
    assert [p["id"] for p in task["participants"]] == [str(participant.id)]
    assert [p["id"] for p in task["observers"]] == [str(observer.id)]
    assert task["deadline"].startswith("2026-12-01T15:00:00")
    assert task["description"] == "Numbers from finance.\nCharts from design."
    stored = db.get(Task, (o.org.id, uuid.UUID(task["id"])))
    assert stored is not None and stored.creator_id == creator.id


def test_a_naive_deadline_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    answer = client.post(
        f"{API}/tasks",
        json={"title": "T", "responsible_id": str(o.admin.id), "deadline": "2026-12-01T17:00:00"},
        headers=auth(db, o.admin),
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"
    assert _count(db, Task) == 0


def test_an_empty_or_overlong_title_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    empty = client.post(
        f"{API}/tasks", json={"title": " \t ", "responsible_id": str(o.admin.id)}, headers=headers
    )
    assert empty.status_code == 422 and empty.json()["code"] == "empty_text"
    long = client.post(
        f"{API}/tasks", json={"title": "x" * 301, "responsible_id": str(o.admin.id)}, headers=headers
    )
    assert long.status_code == 422 and long.json()["code"] == "text_too_long"
    assert _count(db, Task) == 0


def test_assigning_a_dismissed_person_is_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    gone = make_user(db, o.org, dismissed=True)
    active = make_user(db, o.org)
    headers = auth(db, o.admin)

    for body in (
        {"title": "T", "responsible_id": str(gone.id)},
        {"title": "T", "responsible_id": str(active.id), "participant_ids": [str(active.id), str(gone.id)]},
        {"title": "T", "responsible_id": str(active.id), "observer_ids": [str(gone.id)]},
    ):
        answer = client.post(f"{API}/tasks", json=body, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "inactive_user"
        assert answer.json()["user_id"] == str(gone.id)
    assert _count(db, Task) == 0
    assert _count(db, TaskParticipant) == 0


def test_the_system_user_and_other_organizations_people_cannot_be_assigned(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    other = make_org(db)
    system = db.scalars(select(User).where(User.org_id == o.org.id, User.is_system.is_(True))).one()
    headers = auth(db, o.admin)

    answer = client.post(
        f"{API}/tasks", json={"title": "T", "responsible_id": str(system.id)}, headers=headers
    )
    assert answer.json()["code"] == "inactive_user"
    answer = client.post(
        f"{API}/tasks", json={"title": "T", "responsible_id": str(other.admin.id)}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["code"] == "unknown_user"
    assert str(other.org.id) not in answer.text
    assert _count(db, Task) == 0


def test_my_tasks_are_listed_by_role(client: TestClient, db: Session) -> None:
    o = make_org(db)
    me = make_user(db, o.org)
    boss = make_user(db, o.org)
    mine = auth(db, me)
    theirs = auth(db, boss)
    responsible = _create(client, theirs, title="I answer for it", responsible_id=str(me.id))
    created = _create(client, mine, title="I asked for it", responsible_id=str(boss.id))
    participating = _create(
        client, theirs, title="I work on it", responsible_id=str(boss.id), participant_ids=[str(me.id)]
    )
    observing = _create(
        client, theirs, title="I watch it", responsible_id=str(boss.id), observer_ids=[str(me.id)]
    )
    _create(client, theirs, title="Not mine", responsible_id=str(boss.id))

    def titles(query: str) -> list[str]:
        answer = client.get(f"{API}/tasks{query}", headers=mine)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == len(body["items"])
        return [t["title"] for t in body["items"]]

    assert titles("?role=responsible") == [responsible["title"]]
    assert titles("?role=creator") == [created["title"]]
    assert titles("?role=participant") == [participating["title"]]
    assert titles("?role=observer") == [observing["title"]]
    assert titles("") == [observing["title"], participating["title"], created["title"], responsible["title"]]
    assert titles("?role=all") == titles("")
    assert client.get(f"{API}/tasks?role=boss", headers=mine).status_code == 422


def test_an_admin_lists_every_task_of_the_organization_but_no_hidden_or_foreign_one(
    client: TestClient, db: Session
) -> None:
    from roster.lifecycle.deletion import DispositionPlan, delete_user
    from roster.references import Disposition

    o = make_org(db)
    other = make_org(db)
    rita, sam, leaver = (make_user(db, o.org) for _ in range(3))
    admin = auth(db, o.admin)
    theirs = _create(client, auth(db, rita), title="Between colleagues", responsible_id=str(sam.id))
    mine = _create(client, admin, title="The admin's own", responsible_id=str(o.admin.id))
    trashed = _create(client, auth(db, rita), title="In the trash", responsible_id=str(rita.id))
    assert client.delete(f"{API}/tasks/{trashed['id']}", headers=auth(db, rita)).status_code == 204
    _create(client, auth(db, leaver), title="Gone with its creator", responsible_id=str(leaver.id))
    delete_user(
        db,
        leaver,
        actor=o.admin,
        confirm=leaver.email,
        disposition=DispositionPlan(default=Disposition.DELETE),
    )
    _create(client, auth(db, other.admin), title="Another organization's", responsible_id=str(other.admin.id))

    # The admin takes no part in their colleagues' task: "all" (my roles) leaves it out.
    assert [t["title"] for t in client.get(f"{API}/tasks", headers=admin).json()["items"]] == [mine["title"]]
    answer = client.get(f"{API}/tasks?role=everyone", headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [t["title"] for t in body["items"]] == [mine["title"], theirs["title"]]
    assert body["total"] == 2
    done = client.get(f"{API}/tasks?role=everyone&status=done", headers=admin).json()
    assert done == {"items": [], "total": 0}


def test_only_an_admin_may_list_every_task(client: TestClient, db: Session) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    _create(client, auth(db, o.admin), title="Confidential", responsible_id=str(o.admin.id))
    answer = client.get(f"{API}/tasks?role=everyone", headers=auth(db, employee))
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "forbidden" and problem["status"] == 403
    assert "administrator" in problem["detail"]
    assert "Confidential" not in answer.text


def test_tasks_are_filtered_by_status_and_paged(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    ids = [
        _create(client, headers, title=f"Task {i}", responsible_id=str(o.admin.id))["id"] for i in range(5)
    ]
    client.patch(f"{API}/tasks/{ids[0]}", json={"status": "done"}, headers=headers)

    done = client.get(f"{API}/tasks?status=done", headers=headers).json()
    assert [t["id"] for t in done["items"]] == [ids[0]] and done["total"] == 1
    first = client.get(f"{API}/tasks?per_page=2&page=1", headers=headers).json()
    second = client.get(f"{API}/tasks?per_page=2&page=2", headers=headers).json()
    third = client.get(f"{API}/tasks?per_page=2&page=3", headers=headers).json()
    assert first["total"] == second["total"] == third["total"] == 5
    listed = [t["id"] for page in (first, second, third) for t in page["items"]]
    assert listed == list(reversed(ids))
    assert client.get(f"{API}/tasks?per_page=201", headers=headers).status_code == 422
    assert client.get(f"{API}/tasks?status=later", headers=headers).status_code == 422


def test_a_task_is_visible_to_the_people_on_it_and_admins_only(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator, responsible, participant, observer, outsider = (make_user(db, o.org) for _ in range(5))
    task = _create(
        client,
        auth(db, creator),
        title="Private matter",
        responsible_id=str(responsible.id),
        participant_ids=[str(participant.id)],
        observer_ids=[str(observer.id)],
    )
    url = f"{API}/tasks/{task['id']}"
    for user in (creator, responsible, participant, observer, o.admin):
        assert client.get(url, headers=auth(db, user)).status_code == 200
    outsider_headers = auth(db, outsider)
    for method, body in (("GET", None), ("PATCH", {"title": "Mine now"}), ("DELETE", None)):
        answer = client.request(method, url, json=body, headers=outsider_headers)
        assert answer.status_code == 404, f"{method}: {answer.text}"
        assert answer.json()["code"] == "not_found"
    assert client.get(f"{API}/tasks?role=all", headers=outsider_headers).json()["total"] == 0


def test_another_organizations_task_does_not_exist(client: TestClient, db: Session) -> None:
    o = make_org(db)
    other = make_org(db)
    task = _create(client, auth(db, o.admin), title="Ours", responsible_id=str(o.admin.id))
    url = f"{API}/tasks/{task['id']}"
    headers = auth(db, other.admin)
    assert client.get(url, headers=headers).status_code == 404
    assert client.patch(url, json={"status": "done"}, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert db.get(Task, (o.org.id, uuid.UUID(task["id"]))) is not None


def test_the_creator_responsible_and_admins_change_a_task_but_participants_do_not(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    creator, responsible, participant = (make_user(db, o.org) for _ in range(3))
    task = _create(
        client,
        auth(db, creator),
        title="Ship it",
        responsible_id=str(responsible.id),
        participant_ids=[str(participant.id)],
    )
    url = f"{API}/tasks/{task['id']}"

    refused = client.patch(url, json={"status": "done"}, headers=auth(db, participant))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.get(url, headers=auth(db, creator)).json()["status"] == "open"

    answer = client.patch(url, json={"status": "in_progress"}, headers=auth(db, responsible))
    assert answer.status_code == 200 and answer.json()["status"] == "in_progress"
    answer = client.patch(url, json={"title": "Ship it today"}, headers=auth(db, creator))
    assert answer.json()["title"] == "Ship it today"
    answer = client.patch(url, json={"status": "done"}, headers=auth(db, o.admin))
    assert answer.json()["status"] == "done"
    assert answer.json()["updated_at"] >= task["updated_at"]


def test_patch_changes_people_and_clears_the_deadline(client: TestClient, db: Session) -> None:
    o = make_org(db)
    a, b, c, d = (make_user(db, o.org) for _ in range(4))
    headers = auth(db, o.admin)
    task = _create(
        client,
        headers,
        title="Rotate",
        responsible_id=str(a.id),
        participant_ids=[str(b.id), str(c.id)],
        deadline="2026-12-24T12:00:00Z",
    )
    url = f"{API}/tasks/{task['id']}"

    answer = client.patch(
        url,
        json={
            "responsible_id": str(d.id),
            "participant_ids": [str(c.id), str(a.id)],
            "observer_ids": [str(b.id)],
        },
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["responsible"]["id"] == str(d.id)
    assert {p["id"] for p in body["participants"]} == {str(c.id), str(a.id)}
    assert [p["id"] for p in body["observers"]] == [str(b.id)]
    assert body["deadline"].startswith("2026-12-24T12:00:00")

    answer = client.patch(url, json={"title": "Rotate again"}, headers=headers)
    assert answer.json()["deadline"] is not None  # fields not sent stay as they are
    answer = client.patch(url, json={"deadline": None}, headers=headers)
    assert answer.json()["deadline"] is None
    assert answer.json()["title"] == "Rotate again"


def test_a_refused_patch_changes_nothing(client: TestClient, db: Session) -> None:
    o = make_org(db)
    a, b = make_user(db, o.org), make_user(db, o.org)
    gone = make_user(db, o.org, dismissed=True)
    headers = auth(db, o.admin)
    task = _create(client, headers, title="Stable", responsible_id=str(a.id), participant_ids=[str(b.id)])
    url = f"{API}/tasks/{task['id']}"

    for body in (
        {"title": "Changed", "responsible_id": str(gone.id)},
        {"title": "Changed", "participant_ids": [str(gone.id)]},
        {"title": "Changed", "observer_ids": [str(a.id), str(gone.id)]},
    ):
        answer = client.patch(url, json=body, headers=headers)
        assert answer.status_code == 422 and answer.json()["code"] == "inactive_user", answer.text
    after = client.get(url, headers=headers).json()
    assert after["title"] == "Stable"
    assert after["responsible"]["id"] == str(a.id)
    assert [p["id"] for p in after["participants"]] == [str(b.id)]
    assert after["observers"] == []


def test_a_change_naming_people_who_left_in_several_fields_is_refused_with_every_field_at_once(
    client: TestClient, db: Session
) -> None:
    """A stale form's change: a new responsible person and two new observers, all gone since. The
    answer is the first field's refusal, as before, with ``errors`` naming every field at fault."""
    from roster.lifecycle.deletion import delete_user
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    a, b, kept = make_user(db, o.org), make_user(db, o.org), make_user(db, o.org)
    x, y, z = make_user(db, o.org), make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, o.admin)
    task = _create(client, headers, title="Stable", responsible_id=str(a.id), observer_ids=[str(kept.id)])
    url = f"{API}/tasks/{task['id']}"
    dismiss_user(db, x, actor=o.admin)
    dismiss_user(db, y, actor=o.admin)
    delete_user(db, z, actor=o.admin, confirm=z.email)
    db.flush()

    answer = client.patch(
        url,
        json={
            "title": "Changed",
            "responsible_id": str(x.id),
            "participant_ids": [str(b.id)],
            "observer_ids": [str(kept.id), str(y.id), str(z.id)],
        },
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["code"], body["field"], body["user_id"]) == ("inactive_user", "responsible_id", str(x.id))
    assert body["errors"] == [
        {
            "field": "responsible_id",
            "code": "inactive_user",
            "message": "That person is no longer active: choose someone else.",
            "user_id": str(x.id),
            "user_ids": [str(x.id)],
        },
        {
            "field": "observer_ids",
            "code": "inactive_user",
            "message": "2 of the people chosen can no longer be chosen: remove them or choose others.",
            "user_id": str(y.id),
            "user_ids": [str(y.id), str(z.id)],
        },
    ]
    after = client.get(url, headers=headers).json()
    assert (after["title"], after["responsible"]["id"], after["participants"]) == ("Stable", str(a.id), [])
    assert [p["id"] for p in after["observers"]] == [str(kept.id)]

    # A new task too: every field at fault, the title's among them, and nothing written.
    answer = client.post(
        f"{API}/tasks",
        json={"title": " ", "responsible_id": str(x.id), "observer_ids": [str(uuid.uuid4())]},
        headers=headers,
    )
    assert answer.status_code == 422
    assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [
        ("title", "empty_text"),
        ("responsible_id", "inactive_user"),
        ("observer_ids", "unknown_user"),
    ]
    assert answer.json()["code"] == "empty_text"
    assert _count(db, Task) == 1


def test_a_dismissed_participant_stays_when_others_change(client: TestClient, db: Session) -> None:
    o = make_org(db)
    a, b, c = (make_user(db, o.org) for _ in range(3))
    headers = auth(db, o.admin)
    task = _create(client, headers, title="T", responsible_id=str(a.id), participant_ids=[str(b.id)])
    b.status, b.dismissed_at = "dismissed", a.created_at
    db.flush()

    answer = client.patch(
        f"{API}/tasks/{task['id']}", json={"participant_ids": [str(b.id), str(c.id)]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert [(p["id"], p["status"]) for p in answer.json()["participants"]] == [
        (str(b.id), "dismissed"),
        (str(c.id), "active"),
    ]


def test_dismissed_people_show_marked_and_as_former_employee_when_names_are_off(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org, first_name="Dora", last_name="Gone")
    task = _create(client, auth(db, creator), title="Left behind", responsible_id=str(o.admin.id))
    creator.status = "dismissed"
    db.flush()
    headers = auth(db, o.admin)
    url = f"{API}/tasks/{task['id']}"

    shown = client.get(url, headers=headers).json()["creator"]
    assert shown == {
        "id": str(creator.id),
        "display_name": "Dora Gone",
        "status": "dismissed",
        "is_system": False,
    }

    o.org.show_former_employee_names = False
    db.flush()
    shown = client.get(url, headers=headers).json()["creator"]
    assert shown["display_name"] == "Former employee" and shown["status"] == "dismissed"
    assert client.get(url, headers=headers).json()["responsible"]["display_name"] == o.admin.display_name


def test_only_the_creator_or_an_admin_deletes_a_task(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator, responsible, observer = (make_user(db, o.org) for _ in range(3))
    task = _create(
        client,
        auth(db, creator),
        title="Short-lived",
        responsible_id=str(responsible.id),
        observer_ids=[str(observer.id)],
    )
    url = f"{API}/tasks/{task['id']}"
    refused = client.delete(url, headers=auth(db, responsible))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"

    assert client.delete(url, headers=auth(db, creator)).status_code == 204
    assert client.get(url, headers=auth(db, creator)).status_code == 404
    # In the trash (tests/test_trash.py): hidden with its observer, not gone.
    assert (_count(db, Task, shown=True), _count(db, Task)) == (0, 1)
    assert (_count(db, TaskObserver, shown=True), _count(db, TaskObserver)) == (0, 1)

    other = _create(client, auth(db, creator), title="Admin removes", responsible_id=str(responsible.id))
    assert client.delete(f"{API}/tasks/{other['id']}", headers=auth(db, o.admin)).status_code == 204


def test_hidden_tasks_and_hidden_people_are_left_out(client: TestClient, db: Session) -> None:
    o = make_org(db)
    a, b = make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, o.admin)
    shown = _create(client, headers, title="Shown", responsible_id=str(a.id), participant_ids=[str(b.id)])
    hidden = _create(client, headers, title="Hidden", responsible_id=str(a.id))
    operation = uuid.uuid4()
    row = db.get(Task, (o.org.id, uuid.UUID(hidden["id"])))
    assert row is not None
    row.hidden_by = operation
    participant = db.scalars(select(TaskParticipant).where(TaskParticipant.user_id == b.id)).one()
    participant.hidden_by = operation
    db.flush()

    listed = client.get(f"{API}/tasks", headers=auth(db, a)).json()
    assert [t["id"] for t in listed["items"]] == [shown["id"]] and listed["total"] == 1
    assert client.get(f"{API}/tasks/{hidden['id']}", headers=headers).status_code == 404
    assert client.get(f"{API}/tasks/{shown['id']}", headers=headers).json()["participants"] == []
    assert client.get(f"{API}/tasks/{shown['id']}", headers=auth(db, b)).status_code == 404
    # Re-setting the people keeps the hidden row for the restore to bring back.
    client.patch(f"{API}/tasks/{shown['id']}", json={"participant_ids": [str(a.id)]}, headers=headers)
    assert (
        db.scalars(select(TaskParticipant.hidden_by).where(TaskParticipant.user_id == b.id)).one()
        == operation
    )


def test_a_page_of_tasks_loads_its_people_in_a_fixed_number_of_queries(
    client: TestClient, db: Session, connection: Connection
) -> None:
    o = make_org(db)
    people = [make_user(db, o.org) for _ in range(6)]
    headers = auth(db, o.admin)
    for i in range(3):
        _create(
            client,
            headers,
            title=f"T{i}",
            responsible_id=str(people[i].id),
            participant_ids=[str(people[i + 1].id)],
        )

    def queries_for_listing() -> int:
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", count)
        try:
            assert client.get(f"{API}/tasks", headers=headers).status_code == 200
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return len(statements)

    few = queries_for_listing()
    assert few > 0
    for i in range(3, 5):
        _create(
            client,
            headers,
            title=f"T{i}",
            responsible_id=str(people[i].id),
            observer_ids=[str(people[i + 1].id)],
        )
    assert queries_for_listing() == few


def test_a_task_is_not_created_by_someone_dismissed_since_signing_in(db: Session) -> None:
    from roster.domain import errors
    from roster.tasks.service import create_task

    o = make_org(db)
    creator = make_user(db, o.org)
    db.execute(
        update(User)
        .where(User.id == creator.id)
        .values(status="dismissed")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(errors.Unauthorized):
        create_task(db, actor=creator, title="Too late", responsible_id=o.admin.id)
    assert _count(db, Task) == 0


def test_a_task_past_its_deadline_is_overdue_until_it_is_done(client: TestClient, db: Session) -> None:
    from datetime import timedelta

    from roster import clock

    o = make_org(db)
    headers = auth(db, o.admin)
    deadline = (clock.now() + timedelta(days=2)).isoformat()
    task = _create(
        client, headers, title="File the report", responsible_id=str(o.admin.id), deadline=deadline
    )
    undated = _create(client, headers, title="Someday", responsible_id=str(o.admin.id))
    assert task["overdue"] is False and undated["overdue"] is False

    clock.advance(timedelta(days=3))
    read = client.get(f"{API}/tasks/{task['id']}", headers=headers).json()
    assert read["overdue"] is True
    listed = {t["id"]: t["overdue"] for t in client.get(f"{API}/tasks", headers=headers).json()["items"]}
    assert listed == {task["id"]: True, undated["id"]: False}

    done = client.patch(f"{API}/tasks/{task['id']}", json={"status": "done"}, headers=headers)
    assert done.status_code == 200 and done.json()["overdue"] is False


def test_tasks_are_filtered_by_whether_they_are_overdue(client: TestClient, db: Session) -> None:
    from datetime import timedelta

    from roster import clock

    o = make_org(db)
    headers = auth(db, o.admin)
    soon = (clock.now() + timedelta(days=1)).isoformat()
    late = _create(client, headers, title="Late", responsible_id=str(o.admin.id), deadline=soon)
    done = _create(client, headers, title="Done", responsible_id=str(o.admin.id), deadline=soon)
    later = _create(
        client,
        headers,
        title="Later",
        responsible_id=str(o.admin.id),
        deadline=(clock.now() + timedelta(days=9)).isoformat(),
    )
    undated = _create(client, headers, title="Someday", responsible_id=str(o.admin.id))
    client.patch(f"{API}/tasks/{done['id']}", json={"status": "done"}, headers=headers)
    clock.advance(timedelta(days=2))

    def titles(query: str) -> set[str]:
        answer = client.get(f"{API}/tasks?{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return {t["title"] for t in answer.json()["items"]}

    assert titles("overdue=true") == {late["title"]}
    assert titles("overdue=false") == {done["title"], later["title"], undated["title"]}
    assert titles("overdue=true&status=done") == set()
    bad = client.get(f"{API}/tasks?overdue=maybe", headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
