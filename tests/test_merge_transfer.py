"""Merging duplicate accounts, handing references over, and the authorship map's API."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.domain import errors
from roster.domain.users import Role
from roster.lifecycle import deletion
from roster.lifecycle.deletion_models import Authorship, LifecycleOperation
from roster.lifecycle.users import dismiss_user
from roster.references import Disposition, content_references
from tests.deletion_support import audit_actions, make_busy, references_to, row_counts, snapshot
from tests.factories import auth, make_org, make_user
from tests.lifecycle_helpers import events


def test_merge_moves_every_reference_to_the_other_account_and_restore_undoes_it(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    duplicate = make_user(db, o.org, first_name="Dana", last_name="Double", role=Role.ADMIN)
    original = make_user(db, o.org, first_name="Dana", last_name="Double")
    other = make_user(db, o.org)
    make_busy(client, db, duplicate, [original, other])
    before = snapshot(db, but=[duplicate])
    counts = row_counts(db)
    refs = references_to(db, duplicate)
    original_refs = references_to(db, original)

    result = deletion.merge_users(db, duplicate, into=original, actor=o.admin, confirm=duplicate.email)

    assert result.user.status == "deleted" and result.user.restorable_until is not None
    assert result.into.id == original.id
    # Every reference moved, except duplicates of what the original already had, which are hidden.
    assert references_to(db, duplicate) == result.deleted
    assert set(result.moved) | set(result.deleted) == set(refs)
    after = references_to(db, original)
    for kind, n in result.moved.items():
        assert after[kind] - original_refs.get(kind, 0) == n
    assert row_counts(db) == counts
    ops = db.scalars(
        select(func.count(func.distinct(Authorship.operation_id))).where(Authorship.org_id == o.org.id)
    ).one()
    assert ops == 1
    assert audit_actions(db, o.org.id)[-1] == "user.merged"

    restored = deletion.restore_user(db, duplicate, actor=o.admin)
    assert restored.restored == result.moved
    assert snapshot(db, but=[duplicate]) == before


def test_merge_refusals_change_nothing(db: Session) -> None:
    o = make_org(db)
    duplicate, original = make_user(db, o.org), make_user(db, o.org)
    gone = make_user(db, o.org, dismissed=True)
    system = accounts.get_system_user(db, o.org.id)
    cases = [
        (duplicate, duplicate, duplicate.email, errors.InvalidSuccessor),
        (duplicate, gone, duplicate.email, errors.InactiveUser),
        (duplicate, system, duplicate.email, errors.InactiveUser),
        (duplicate, original, "nope", errors.ConfirmationMismatch),
        (system, original, "", errors.SystemUserImmutable),
        (o.admin, original, o.admin.email, errors.CannotActOnSelf),
    ]
    for source, into, confirm, error in cases:
        before = snapshot(db)
        events = audit_actions(db, o.org.id)
        with pytest.raises(error) as refused:
            deletion.merge_users(db, source, into=into, actor=o.admin, confirm=confirm)
        if error is errors.CannotActOnSelf:
            assert refused.value.detail.startswith("You cannot merge your own account")
        assert snapshot(db) == before
        assert audit_actions(db, o.org.id) == events


def test_the_api_merges(client: TestClient, db: Session) -> None:
    o = make_org(db)
    duplicate, original = make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, o.admin)
    answer = client.post(
        f"/api/v1/users/{duplicate.id}/merge",
        json={"into_id": str(original.id), "confirm": duplicate.email},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["status"] == "deleted"
    assert answer.json()["into"]["id"] == str(original.id)
    # The path names the account (404 when there is none); the body names the one to keep: an
    # unknown or another organization's id there is a bad field, 422, and changes nothing.
    foreign = make_org(db).admin
    for into_id in (foreign.id, uuid.uuid4()):
        before = snapshot(db)
        answer = client.post(
            f"/api/v1/users/{original.id}/merge",
            json={"into_id": str(into_id), "confirm": original.email},
            headers=headers,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "unknown_user" and answer.json()["field"] == "into_id"
        assert snapshot(db) == before
    answer = client.post(
        f"/api/v1/users/{uuid.uuid4()}/merge",
        json={"into_id": str(original.id), "confirm": original.email},
        headers=headers,
    )
    assert answer.status_code == 404


def _successor_kinds() -> list[str]:
    return [r.kind for r in content_references() if Disposition.SUCCESSOR in r.dispositions]


def test_a_dismissed_persons_references_go_to_their_successor(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    leaver = make_user(db, o.org, role=Role.ADMIN)
    successor, other = make_user(db, o.org), make_user(db, o.org)
    make_busy(client, db, leaver, [successor, other])
    dismiss_user(db, leaver, actor=o.admin)
    kind = (
        "tasks.task.responsible" if "tasks.task.responsible" in _successor_kinds() else _successor_kinds()[0]
    )
    had = references_to(db, leaver)[kind]
    counts = row_counts(db)

    moved = deletion.transfer_references(db, leaver, to=successor, actor=o.admin, kinds=[kind]).moved

    assert moved == {kind: had}
    assert kind not in references_to(db, leaver)
    assert row_counts(db) == counts
    db.refresh(leaver)
    assert leaver.status == "dismissed"  # nobody is deleted
    entries, total = deletion.list_authorship(db, o.org.id, user_id=leaver.id, kind=kind)
    assert total == had
    assert {e.moved_to.id for e in entries} == {successor.id}
    assert audit_actions(db, o.org.id)[-1] == "references.transferred"


def test_the_system_users_records_of_one_person_go_to_a_new_hire(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    first = make_user(db, o.org, role=Role.ADMIN)
    second = make_user(db, o.org, role=Role.ADMIN)
    helper = make_user(db, o.org)
    make_busy(client, db, first, [helper, o.admin])
    make_busy(client, db, second, [helper, o.admin])
    first_result = deletion.delete_user(db, first, actor=o.admin, confirm=first.email)
    deletion.delete_user(db, second, actor=o.admin, confirm=second.email)
    system = accounts.get_system_user(db, o.org.id)
    hire = make_user(db, o.org)
    system_before = references_to(db, system)
    # What the handover page lists, for everyone and for one person, is what the handover moves.
    everyone = {h.original_user_id: h for h in deletion.list_holdings_by_original(db, system)}
    assert set(everyone) == {first.id, second.id}
    for original in (first, second):
        (only,) = deletion.list_holdings_by_original(db, system, originally_by=original.id)
        assert (only.counts, only.open) == (everyone[original.id].counts, everyone[original.id].open)
        assert only.open and all(only.open[k] <= only.counts[k] for k in only.open)
    assert deletion.list_holdings_by_original(db, system, originally_by=helper.id) == []

    moved = deletion.transfer_references(db, system, to=hire, actor=o.admin, originally_by=first.id).moved

    expected = {k: n for k, n in first_result.moved.items() if k in _successor_kinds()}
    assert moved == expected
    assert everyone[first.id].counts == expected
    assert deletion.list_holdings_by_original(db, system, originally_by=first.id) == []
    system_after = references_to(db, system)
    for kind, n in moved.items():
        assert system_before[kind] - system_after.get(kind, 0) == n
    # Restoring the first person now leaves what went to the new hire where it is.
    restored = deletion.restore_user(db, first, actor=o.admin)
    assert restored.left == expected


def test_transfer_refusals(db: Session) -> None:
    o = make_org(db)
    leaver, gone = make_user(db, o.org), make_user(db, o.org, dismissed=True)
    no_successor = next(
        (r.kind for r in content_references() if Disposition.SUCCESSOR not in r.dispositions), None
    )
    cases: list[tuple[object, list[str] | None, type[errors.RosterError]]] = [
        (o.admin, [], errors.ValidationFailed),  # nothing chosen is a mistake, not an empty transfer
        (gone, None, errors.InactiveUser),
        (leaver, None, errors.InvalidSuccessor),
        (o.admin, ["no.such.kind"], errors.DispositionNotAllowed),
    ]
    if no_successor:
        cases.append((o.admin, [no_successor], errors.DispositionNotAllowed))
    for to, kinds, error in cases:
        events = audit_actions(db, o.org.id)
        with pytest.raises(error):
            deletion.transfer_references(db, leaver, to=to, actor=o.admin, kinds=kinds)  # type: ignore[arg-type]
        assert audit_actions(db, o.org.id) == events


def test_a_handover_with_nothing_to_move_changes_and_records_nothing(client: TestClient, db: Session) -> None:
    o = make_org(db)
    idle, successor = make_user(db, o.org), make_user(db, o.org)
    events = audit_actions(db, o.org.id)
    operations = db.scalar(select(func.count()).select_from(LifecycleOperation))
    before = snapshot(db)

    result = deletion.transfer_references(db, idle, to=successor, actor=o.admin)
    assert result.moved == {} and result.kept_closed == {} and result.kept_duplicate == {}
    answer = client.post(
        f"/api/v1/users/{idle.id}/transfer", json={"to_id": str(successor.id)}, headers=auth(db, o.admin)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["moved"] == {}

    assert snapshot(db) == before
    assert audit_actions(db, o.org.id) == events
    assert db.scalar(select(func.count()).select_from(LifecycleOperation)) == operations


def test_the_api_transfers_and_lists_the_authorship_map(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", role=Role.ADMIN)
    successor, other = make_user(db, o.org), make_user(db, o.org)
    make_busy(client, db, leaver, [successor, other])
    headers = auth(db, o.admin)
    for to_id in (make_org(db).admin.id, uuid.uuid4()):  # another organization's person, nobody
        before = snapshot(db)
        answer = client.post(
            f"/api/v1/users/{leaver.id}/transfer", json={"to_id": str(to_id)}, headers=headers
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "unknown_user" and answer.json()["field"] == "to_id"
        assert answer.json()["user_id"] == str(to_id)
        assert snapshot(db) == before
        # The same refusal for the person whose records are asked for names them the same way.
        answer = client.post(
            f"/api/v1/users/{leaver.id}/transfer",
            json={"to_id": str(successor.id), "originally_by": str(to_id)},
            headers=headers,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "unknown_user" and answer.json()["field"] == "originally_by"
        assert answer.json()["user_id"] == str(to_id)
        assert snapshot(db) == before
    answer = client.post(
        f"/api/v1/users/{leaver.id}/transfer", json={"to_id": str(successor.id)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    moved = answer.json()["moved"]
    assert moved and set(moved) <= set(_successor_kinds())

    page = client.get(f"/api/v1/users/{leaver.id}/authorship?per_page=2", headers=headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == sum(moved.values())
    assert len(body["items"]) == min(2, body["total"])
    entry = body["items"][0]
    assert entry["original_user"]["id"] == str(leaver.id)
    assert entry["original_display_name"] == "Lee Leaver"
    assert entry["moved_to"]["id"] == str(successor.id)

    one = client.get(
        f"/api/v1/authorship?kind={entry['kind']}&object_id={entry['object_id']}", headers=headers
    )
    assert one.status_code == 200
    assert [i["original_user"]["id"] for i in one.json()["items"]] == [str(leaver.id)]

    employee = auth(db, other)
    assert client.get("/api/v1/authorship", headers=employee).status_code == 403
    foreign = auth(db, make_org(db).admin)
    assert client.get("/api/v1/authorship", headers=foreign).json()["total"] == 0


def test_a_handover_moves_open_work_and_leaves_closed_work_unless_asked(
    client: TestClient, db: Session
) -> None:
    """A leaver's open tasks and leads go to the successor; a done task or a won or lost lead stays
    with whoever answered for it, unless the admin asks for everything."""
    o = make_org(db, plan="enterprise")
    leaver, successor, colleague = make_user(db, o.org), make_user(db, o.org), make_user(db, o.org)
    admin = auth(db, o.admin)

    def task(title: str, status: str) -> str:
        body = {
            "title": title,
            "responsible_id": str(leaver.id),
            "participant_ids": [str(leaver.id)] if status != "open" else [],
            "observer_ids": [str(colleague.id)],
        }
        made = client.post("/api/v1/tasks", json=body, headers=admin)
        assert made.status_code == 201, made.text
        if status != "open":
            changed = client.patch(
                f"/api/v1/tasks/{made.json()['id']}", json={"status": status}, headers=admin
            )
            assert changed.status_code == 200, changed.text
        return str(made.json()["id"])

    def lead(title: str, status: str) -> str:
        made = client.post(
            "/api/v1/crm/leads", json={"title": title, "responsible_id": str(leaver.id)}, headers=admin
        )
        assert made.status_code == 201, made.text
        if status != "new":
            changed = client.patch(
                f"/api/v1/crm/leads/{made.json()['id']}", json={"status": status}, headers=admin
            )
            assert changed.status_code == 200, changed.text
        return str(made.json()["id"])

    open_tasks = {task("Open one", "open"), task("Under way", "in_progress")}
    done_task = task("Done", "done")
    open_lead = lead("Warm", "contacted")
    closed_leads = {lead("Signed", "won"), lead("Gone", "lost")}

    preview = client.get(f"/api/v1/users/{leaver.id}/deletion-preview", headers=admin).json()
    shown = {r["kind"]: (r["count"], r["open"]) for r in preview["references"]}
    assert shown["tasks.task.responsible"] == (3, 2)
    assert shown["tasks.participant.user"] == (2, 1)  # "Under way" and "Done"
    assert shown["crm.lead.responsible"] == (3, 1)
    assert shown["stream.post.author"][1] is None  # a post is not work with an end

    kinds = ["tasks.task.responsible", "tasks.participant.user", "crm.lead.responsible"]
    answer = client.post(
        f"/api/v1/users/{leaver.id}/transfer",
        json={"to_id": str(successor.id), "kinds": kinds},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "moved": {"tasks.task.responsible": 2, "tasks.participant.user": 1, "crm.lead.responsible": 1},
        "kept_closed": {"tasks.task.responsible": 1, "tasks.participant.user": 1, "crm.lead.responsible": 2},
        "kept_duplicate": {},
    }
    responsible = {
        t["id"]: t["responsible"]["id"]
        for t in client.get("/api/v1/tasks?role=everyone&per_page=200", headers=admin).json()["items"]
    }
    assert {responsible[t] for t in open_tasks} == {str(successor.id)}
    assert responsible[done_task] == str(leaver.id)
    leads = {
        item["id"]: item["responsible"]["id"]
        for item in client.get("/api/v1/crm/leads?per_page=200", headers=admin).json()["items"]
    }
    assert leads[open_lead] == str(successor.id)
    assert {leads[i] for i in closed_leads} == {str(leaver.id)}
    event = events(db, o.org.id, "references.transferred")[-1]
    assert event.details["kept_closed"] == answer.json()["kept_closed"]
    assert event.details["include_closed"] is False

    everything = client.post(
        f"/api/v1/users/{leaver.id}/transfer",
        json={"to_id": str(successor.id), "kinds": kinds, "include_closed": True},
        headers=admin,
    )
    assert everything.status_code == 200, everything.text
    assert everything.json() == {
        "moved": {"tasks.task.responsible": 1, "tasks.participant.user": 1, "crm.lead.responsible": 2},
        "kept_closed": {},
        "kept_duplicate": {},
    }
    assert not {k: n for k, n in references_to(db, leaver).items() if k in kinds}


def test_a_handover_reports_what_stays_because_the_recipient_has_it_already(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, plan="enterprise")
    leaver, successor = make_user(db, o.org), make_user(db, o.org)
    admin = auth(db, o.admin)
    for title, observers in [("Both watch", [leaver, successor]), ("Only the leaver", [leaver])]:
        body = {
            "title": title,
            "responsible_id": str(o.admin.id),
            "observer_ids": [str(u.id) for u in observers],
        }
        assert client.post("/api/v1/tasks", json=body, headers=admin).status_code == 201

    answer = client.post(
        f"/api/v1/users/{leaver.id}/transfer",
        json={"to_id": str(successor.id), "kinds": ["tasks.observer.user"]},
        headers=admin,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "moved": {"tasks.observer.user": 1},
        "kept_closed": {},
        "kept_duplicate": {"tasks.observer.user": 1},
    }
    assert references_to(db, leaver)["tasks.observer.user"] == 1  # the one both watch stays theirs
    event = events(db, o.org.id, "references.transferred")[-1]
    assert event.details["kept_duplicate"] == {"tasks.observer.user": 1}
