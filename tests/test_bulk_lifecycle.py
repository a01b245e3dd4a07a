"""Bulk dismiss and delete: all or none, each person through the single action, every refusal named."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import AuthToken, User
from roster.db.base import Base
from roster.domain import errors
from roster.domain.users import Role
from roster.lifecycle import bulk, deletion
from roster.lifecycle.deletion import DispositionPlan
from roster.lifecycle.deletion_models import LifecycleOperation
from roster.references import Disposition
from tests.deletion_support import make_busy, references_to, snapshot
from tests.factories import OrgWithAdmin, auth, make_org, make_user
from tests.lifecycle_helpers import events

API = "/api/v1"
WATCHED = ("users", "audit_events", "lifecycle_operations", "authorship", "auth_tokens")


def _state(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that a bulk action could change, to compare before and after a refusal."""
    return snapshot(db, [Base.metadata.tables[name] for name in WATCHED])


def _team(db: Session) -> tuple[OrgWithAdmin, list[User]]:
    o = make_org(db, plan="enterprise")
    people = [make_user(db, o.org, first_name=name) for name in ("Ann", "Ben", "Cat", "Dan")]
    return o, people


def _refused(exc: pytest.ExceptionInfo[errors.BulkRefused]) -> dict[str, str]:
    return {r["user_id"]: r["code"] for r in exc.value.extra["refused"]}


# --------------------------------------------------------------------------------------------
# Service


def test_dismiss_users_dismisses_each_with_the_single_actions_event(db: Session) -> None:
    o, (ann, ben, cat, _dan) = _team(db)
    accounts.issue_token(db, ann, kind="bearer")
    done = bulk.dismiss_users(db, [ann, ben.id, ann.id, cat], actor=o.admin, reason="imported by mistake")
    assert [u.id for u in done] == [ann.id, ben.id, cat.id]  # the duplicate counts once
    assert {u.status for u in done} == {"dismissed"}
    dismissed = events(db, o.org.id, "user.dismissed")
    assert sorted(e.subject_id for e in dismissed) == sorted([ann.id, ben.id, cat.id])
    assert {e.actor_id for e in dismissed} == {o.admin.id}
    assert {e.details["reason"] for e in dismissed} == {"imported by mistake"}
    tokens = db.scalar(select(func.count()).select_from(AuthToken).where(AuthToken.user_id == ann.id))
    assert tokens == 0


def test_the_counts_of_several_people_at_once_are_the_sums_of_their_previews(
    client: TestClient, db: Session
) -> None:
    """What a bulk deletion's review shows: one statement for everyone, each kind's count the sum
    of what each person's own preview says."""
    o, (ann, ben, cat, dan) = _team(db)
    make_busy(client, db, ann, [ben, cat], rounds=2)
    make_busy(client, db, ben, [ann, dan])
    db.expire_all()
    people = [ann, ben, cat]
    summed = {
        i.kind: (i.count, i.in_trash, i.open)
        for i in deletion.reference_counts(db, o.org.id, [p.id for p in people])
    }
    alone = [deletion.preview_deletion(db, p).references for p in people]
    for kind, (count, in_trash, still_open) in summed.items():
        each = [next(i for i in items if i.kind == kind) for items in alone]
        assert count == sum(i.count for i in each), kind
        assert in_trash == sum(i.in_trash for i in each), kind
        assert still_open == (None if each[0].open is None else sum(i.open or 0 for i in each)), kind
    assert sum(count for count, _, _ in summed.values()) > 0


def test_a_bulk_dismissal_names_everyone_it_refuses_and_changes_nothing(db: Session) -> None:
    o, (ann, ben, cat, _dan) = _team(db)
    other = make_org(db)
    stranger = make_user(db, other.org)
    bulk.dismiss_users(db, [cat], actor=o.admin)
    system = accounts.get_system_user(db, o.org.id)
    nobody = uuid.uuid4()
    before = _state(db)
    with pytest.raises(errors.BulkRefused) as refused:
        bulk.dismiss_users(
            db, [ann, o.admin, system, cat, stranger.id, nobody, ben], actor=o.admin, reason="tidy up"
        )
    assert refused.value.status == 409 and refused.value.code == "bulk_refused"
    assert _refused(refused) == {
        str(o.admin.id): "cannot_act_on_self",
        str(system.id): "system_user_immutable",
        str(cat.id): "invalid_transition",
        str(stranger.id): "unknown_user",
        str(nobody): "unknown_user",
    }
    [unknown] = [r for r in refused.value.extra["refused"] if r["user_id"] == str(stranger.id)]
    assert unknown["detail"] == "No such user in this organization."  # nothing about the stranger
    assert "5 of the 7" in refused.value.detail
    assert _state(db) == before


def test_the_last_administrators_cannot_all_go_at_once(db: Session) -> None:
    o, (ann, *_rest) = _team(db)
    second = make_user(db, o.org, first_name="Sam", role=Role.ADMIN)
    # Each alone may go (another admin stays), but not both: the check sees the whole set.
    before = _state(db)
    with pytest.raises(errors.BulkRefused) as refused:
        bulk.dismiss_users(db, [o.admin, second], actor=ann)
    assert _refused(refused) == {str(o.admin.id): "last_admin", str(second.id): "last_admin"}
    # Listed in the order asked, among the other refusals.
    with pytest.raises(errors.BulkRefused) as refused:
        bulk.dismiss_users(db, [second, uuid.uuid4(), o.admin], actor=ann)
    codes = [r["code"] for r in refused.value.extra["refused"]]
    assert codes == ["last_admin", "unknown_user", "last_admin"]
    assert _state(db) == before
    assert [u.id for u in bulk.dismiss_users(db, [second], actor=o.admin)] == [second.id]


@pytest.mark.parametrize("count", [0, bulk.MAX_BULK_USERS + 1])
def test_a_bulk_action_takes_one_to_two_hundred_people(db: Session, count: int) -> None:
    o, _people = _team(db)
    ids = [uuid.uuid4() for _ in range(count)]
    with pytest.raises(errors.ValidationFailed) as refused:
        bulk.dismiss_users(db, ids, actor=o.admin)
    assert refused.value.extra["field"] == "user_ids"
    with pytest.raises(errors.ValidationFailed):
        bulk.delete_users(db, ids, actor=o.admin, confirm=str(count))


def test_delete_users_gives_each_person_an_operation_of_their_own(client: TestClient, db: Session) -> None:
    o, (ann, ben, cat, dan) = _team(db)
    make_busy(client, db, ann, [cat, dan])
    make_busy(client, db, ben, [cat, dan])
    held = {ann.id: references_to(db, ann), ben.id: references_to(db, ben)}
    system = accounts.get_system_user(db, o.org.id)
    before_system = sum(references_to(db, system).values())

    results = bulk.delete_users(db, [ann, ben, ann.id], actor=o.admin, confirm=" 2 ")

    assert [r.user.id for r in results] == [ann.id, ben.id]
    assert len({r.operation_id for r in results}) == 2
    assert {r.user.status for r in results} == {"deleted"}
    assert references_to(db, ann, visible_only=True) == {} == references_to(db, ben, visible_only=True)
    assert sum(references_to(db, system).values()) > before_system
    deleted = events(db, o.org.id, "user.deleted")
    assert sorted(e.subject_id for e in deleted) == sorted([ann.id, ben.id])
    assert {e.details["operation_id"] for e in deleted} == {str(r.operation_id) for r in results}
    ops = db.scalars(select(LifecycleOperation).where(LifecycleOperation.org_id == o.org.id)).all()
    assert sorted(op.user_id for op in ops) == sorted([ann.id, ben.id])

    # Each restorable on its own: bringing Ann back leaves Ben deleted.
    deletion.restore_user(db, db.get(User, (o.org.id, ann.id)), actor=o.admin)  # type: ignore[arg-type]
    assert references_to(db, ann) == held[ann.id]
    assert db.get(User, (o.org.id, ben.id)).status == "deleted"  # type: ignore[union-attr]


def test_delete_users_hands_everything_to_one_successor(client: TestClient, db: Session) -> None:
    o, (ann, ben, cat, dan) = _team(db)
    make_busy(client, db, ann, [cat, dan])
    make_busy(client, db, ben, [cat, dan])
    plan = DispositionPlan(default=Disposition.SUCCESSOR, successor_id=o.admin.id)
    results = bulk.delete_users(db, [ann, ben], actor=o.admin, confirm="2", disposition=plan)
    assert all(r.moved for r in results)
    for event in events(db, o.org.id, "user.deleted"):
        assert event.details["successor_id"] == str(o.admin.id)
    assert references_to(db, o.admin).get("stream.post.author", 0) >= 2


def test_a_successor_among_the_people_deleted_is_refused(db: Session) -> None:
    o, (ann, ben, _cat, _dan) = _team(db)
    plan = DispositionPlan(default=Disposition.SUCCESSOR, successor_id=ben.id)
    with pytest.raises(errors.InvalidSuccessor) as refused:
        bulk.delete_users(db, [ann, ben], actor=o.admin, confirm="2", disposition=plan)
    assert refused.value.extra["field"] == "disposition.successor_id"
    with pytest.raises(errors.InvalidSuccessor):
        bulk.delete_users(
            db, [ann], actor=o.admin, confirm="1", disposition=DispositionPlan(Disposition.SUCCESSOR)
        )
    dismissed = make_user(db, o.org, dismissed=True)
    before = _state(db)
    with pytest.raises(errors.InactiveUser):
        bulk.delete_users(
            db,
            [ann],
            actor=o.admin,
            confirm="1",
            disposition=DispositionPlan(Disposition.SUCCESSOR, successor_id=dismissed.id),
        )
    assert _state(db) == before


@pytest.mark.parametrize("confirm", [None, "", "3", "two", "1"])
def test_a_bulk_deletion_is_confirmed_by_the_number_of_people(db: Session, confirm: str | None) -> None:
    o, (ann, ben, *_rest) = _team(db)
    before = _state(db)
    with pytest.raises(errors.ConfirmationMismatch) as refused:
        bulk.delete_users(db, [ann, ben, ann], actor=o.admin, confirm=confirm)
    assert "(2)" in refused.value.detail
    assert _state(db) == before


def test_a_bulk_deletion_refuses_the_deleted_and_changes_nothing(db: Session) -> None:
    o, (ann, ben, cat, _dan) = _team(db)
    bulk.delete_users(db, [cat], actor=o.admin, confirm="1")
    dismissed = make_user(db, o.org, dismissed=True)
    before = _state(db)
    with pytest.raises(errors.BulkRefused) as refused:
        bulk.delete_users(db, [ann, cat, dismissed, ben], actor=o.admin, confirm="4")
    assert _refused(refused) == {str(cat.id): "invalid_transition"}
    assert _state(db) == before
    # A dismissed person can be deleted, as with the single action.
    assert len(bulk.delete_users(db, [ann, dismissed, ben], actor=o.admin, confirm="3")) == 3


# --------------------------------------------------------------------------------------------
# API


def test_the_api_dismisses_many(client: TestClient, db: Session) -> None:
    o, (ann, ben, *_rest) = _team(db)
    answer = client.post(
        f"{API}/users/bulk/dismiss",
        json={"user_ids": [str(ann.id), str(ben.id), str(ann.id)], "reason": "duplicates"},
        headers=auth(db, o.admin),
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["id"] for i in items] == [str(ann.id), str(ben.id)]
    assert {i["status"] for i in items} == {"dismissed"}
    assert len(events(db, o.org.id, "user.dismissed")) == 2


def test_the_api_deletes_many(client: TestClient, db: Session) -> None:
    o, (ann, ben, cat, dan) = _team(db)
    make_busy(client, db, ann, [cat, dan])
    answer = client.post(
        f"{API}/users/bulk/delete",
        json={
            "user_ids": [str(ann.id), str(ben.id)],
            "confirm": "2",
            "disposition": {"default": "successor", "successor_id": str(cat.id)},
        },
        headers=auth(db, o.admin),
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["user"]["id"] for i in items] == [str(ann.id), str(ben.id)]
    assert {i["user"]["status"] for i in items} == {"deleted"}
    assert all(i["user"]["restorable_until"] for i in items)
    assert items[0]["moved"] and items[1]["moved"] == {}
    assert set(items[0]) >= {"user", "moved", "deleted", "operation_id"}
    # The number may be sent as a number too.
    answer = client.post(
        f"{API}/users/bulk/delete", json={"user_ids": [str(dan.id)], "confirm": 1}, headers=auth(db, o.admin)
    )
    assert answer.status_code == 200, answer.text


def test_api_refusals_list_every_person_and_change_nothing(client: TestClient, db: Session) -> None:
    o, (ann, ben, cat, _dan) = _team(db)
    stranger = make_user(db, make_org(db).org)
    client.post(f"{API}/users/{cat.id}/dismiss", headers=auth(db, o.admin))
    headers = auth(db, o.admin)
    before = _state(db)
    ids = [str(ann.id), str(o.admin.id), str(stranger.id), str(cat.id), str(ben.id)]
    answer = client.post(f"{API}/users/bulk/dismiss", json={"user_ids": ids}, headers=headers)
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "bulk_refused"
    assert [(r["user_id"], r["code"]) for r in body["refused"]] == [
        (str(o.admin.id), "cannot_act_on_self"),
        (str(stranger.id), "unknown_user"),
        (str(cat.id), "invalid_transition"),
    ]
    assert stranger.display_name not in answer.text and stranger.email not in answer.text
    answer = client.post(f"{API}/users/bulk/delete", json={"user_ids": ids, "confirm": "5"}, headers=headers)
    assert answer.status_code == 409 and answer.json()["code"] == "bulk_refused"
    assert [r["code"] for r in answer.json()["refused"]] == ["cannot_act_on_self", "unknown_user"]
    assert _state(db) == before


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"user_ids": []}, "validation_failed", "user_ids"),
        ({"user_ids": ["not-an-id"]}, "validation_failed", None),
        ({"user_ids": "TOO_MANY"}, "validation_failed", "user_ids"),
        ({"user_ids": "ANN", "confirm": "2"}, "confirmation_mismatch", "confirm"),
        ({"user_ids": "ANN"}, "confirmation_mismatch", "confirm"),
        (
            {"user_ids": "ANN_BEN", "confirm": "2", "disposition": {"default": "successor"}},
            "invalid_successor",
            "disposition.successor_id",
        ),
        (
            {
                "user_ids": "ANN_BEN",
                "confirm": "2",
                "disposition": {"default": "successor", "successor_id": "BEN"},
            },
            "invalid_successor",
            "disposition.successor_id",
        ),
        (
            {"user_ids": "ANN", "confirm": "1", "disposition": {"default": "delete"}},
            "validation_failed",
            None,
        ),
    ],
)
def test_bad_input_to_a_bulk_deletion_is_422_and_changes_nothing(
    client: TestClient, db: Session, body: dict[str, Any], code: str, field: str | None
) -> None:
    o, (ann, ben, *_rest) = _team(db)
    names = {"ANN": [str(ann.id)], "ANN_BEN": [str(ann.id), str(ben.id)]}
    names["TOO_MANY"] = [str(uuid.uuid4()) for _ in range(bulk.MAX_BULK_USERS + 1)]
    ids = body["user_ids"]
    body = {**body, "user_ids": names[ids] if isinstance(ids, str) else ids}
    if body.get("disposition", {}).get("successor_id") == "BEN":
        body["disposition"] = {**body["disposition"], "successor_id": str(ben.id)}
    headers = auth(db, o.admin)
    before = _state(db)
    answer = client.post(f"{API}/users/bulk/delete", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    if field is not None:
        assert answer.json()["field"] == field
    assert _state(db) == before


def test_duplicates_count_once_against_the_limit(client: TestClient, db: Session) -> None:
    o, (ann, *_rest) = _team(db)
    answer = client.post(
        f"{API}/users/bulk/dismiss",
        json={"user_ids": [str(ann.id)] * (bulk.MAX_BULK_USERS + 50)},
        headers=auth(db, o.admin),
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 1


def test_employees_cannot_act_in_bulk(client: TestClient, db: Session) -> None:
    _o, (ann, ben, *_rest) = _team(db)
    headers = auth(db, ann)
    before = _state(db)
    for path, body in (
        ("dismiss", {"user_ids": [str(ben.id)]}),
        ("delete", {"user_ids": [str(ben.id)], "confirm": "1"}),
    ):
        answer = client.post(f"{API}/users/bulk/{path}", json=body, headers=headers)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert _state(db) == before
