"""Deleting a user: the preview, dispositions per kind, the authorship map, refusals, the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.domain import errors
from roster.domain.users import Role
from roster.ids import new_id
from roster.lifecycle import deletion
from roster.lifecycle.deletion import DispositionPlan
from roster.lifecycle.deletion_models import Authorship
from roster.lifecycle.seats import take_seat
from roster.references import Disposition, content_references
from tests.deletion_support import (
    audit_actions,
    credential_rows,
    make_busy,
    references_to,
    row_counts,
    snapshot,
)
from tests.factories import OrgWithAdmin, auth, make_org, make_user


def _team(db: Session) -> tuple[OrgWithAdmin, User, User, User]:
    o = make_org(db, plan="enterprise")
    busy = make_user(db, o.org, first_name="Bea", last_name="Busy", role=Role.ADMIN)
    colleague = make_user(db, o.org, first_name="Cal", last_name="Colleague")
    other = make_user(db, o.org, first_name="Oli", last_name="Other")
    return o, busy, colleague, other


def _map_rows(db: Session, org_id: Any) -> int:
    db.flush()
    return int(
        db.scalar(select(func.count()).select_from(Authorship).where(Authorship.org_id == org_id)) or 0
    )


def test_the_preview_counts_every_kind_in_one_statement(client: TestClient, db: Session) -> None:
    _o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    statements: list[str] = []
    connection = db.connection()

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    try:
        preview = deletion.preview_deletion(db, busy)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(statements) == 1
    expected = references_to(db, busy, visible_only=True)
    assert {i.kind: i.count for i in preview.references if i.count} == expected
    assert preview.total == sum(expected.values()) > 0
    # The busy user has content of every registered kind, so every module is exercised.
    assert set(references_to(db, busy)) == {r.kind for r in content_references()}
    kinds = {i.kind: i for i in preview.references}
    assert set(kinds) == {r.kind for r in content_references()}
    for ref in content_references():
        assert kinds[ref.kind].dispositions == [d.value for d in ref.dispositions]


def test_delete_moves_every_reference_to_the_system_user_by_default(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    accounts.issue_token(db, busy, kind="pat", name="script")
    before = references_to(db, busy)
    system = accounts.get_system_user(db, o.org.id)
    system_before = references_to(db, system)
    counts_before = row_counts(db)

    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email.upper())  # type: ignore[union-attr]

    assert result.user.status == "deleted"
    assert result.user.email_key is None and result.user.email is not None
    assert result.user.restorable_until is not None
    assert references_to(db, busy) == result.deleted  # only rows hidden as duplicates stay theirs
    moved_total = sum(result.moved.values())
    assert moved_total + sum(result.deleted.values()) == sum(before.values())
    system_after = references_to(db, system)
    for kind, n in result.moved.items():
        assert system_after.get(kind, 0) - system_before.get(kind, 0) == n
    assert row_counts(db) == counts_before  # nothing destroyed, nothing duplicated
    assert _map_rows(db, o.org.id) == moved_total
    assert credential_rows(db, busy) == 0
    assert audit_actions(db, o.org.id)[-1] == "user.deleted"


@pytest.mark.parametrize("default", ["system_user", "successor", "delete"])
def test_delete_then_restore_gives_back_every_row_exactly(
    client: TestClient, db: Session, default: str
) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other], rounds=2)
    before = snapshot(db, but=[busy])
    refs_before = references_to(db, busy)
    plan = DispositionPlan(
        default=Disposition(default), successor_id=colleague.id if default == "successor" else None
    )

    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=plan)
    if default == "delete":
        assert result.deleted
        assert references_to(db, busy, visible_only=True) == {}
    if default == "successor":
        assert any(colleague.id == row for row in [colleague.id]) and result.moved
    assert snapshot(db, but=[busy]) != before

    restored = deletion.restore_user(db, busy, actor=o.admin)

    assert restored.user.status == "dismissed"
    assert restored.restored == result.moved
    assert restored.left == {}
    assert snapshot(db, but=[busy]) == before
    assert references_to(db, busy) == refs_before
    assert _map_rows(db, o.org.id) == sum(result.moved.values())  # the map keeps the history
    assert audit_actions(db, o.org.id)[-2:] == ["user.deleted", "user.restored"]


def test_dispositions_are_chosen_per_kind(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    kinds = {r.kind: r for r in content_references()}
    before = references_to(db, busy, visible_only=True)
    chosen: dict[str, Disposition] = {}
    for kind, ref in kinds.items():
        if kind in before:
            if Disposition.DELETE in ref.dispositions:
                chosen[kind] = Disposition.DELETE
            elif Disposition.SUCCESSOR in ref.dispositions:
                chosen[kind] = Disposition.SUCCESSOR
    assert chosen, "the busy user has content of some kind"
    plan = DispositionPlan(successor_id=colleague.id, kinds=chosen)

    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=plan)

    for kind, disposition in chosen.items():
        if disposition is Disposition.DELETE:
            assert result.deleted.get(kind) == before[kind]
            assert kind not in result.moved
        else:
            # Moved, or hidden with its row for another kind of the same table (a lead deleted
            # for its responsible is not moved for its creator).
            assert result.moved.get(kind, 0) + result.deleted.get(kind, 0) <= before[kind]
    assert references_to(db, busy, visible_only=True) == {}
    colleague_refs = references_to(db, colleague)
    for kind, disposition in chosen.items():
        if disposition is Disposition.SUCCESSOR:
            assert colleague_refs.get(kind, 0) >= result.moved.get(kind, 0)


def _assert_refused(
    db: Session, org: Organization, busy: User, error: type[errors.RosterError], call: Any
) -> None:
    before = snapshot(db)
    events = audit_actions(db, org.id)
    status = busy.status
    with pytest.raises(error):
        call()
    assert snapshot(db) == before
    assert audit_actions(db, org.id) == events
    db.refresh(busy)
    assert busy.status == status


def test_delete_is_refused_without_the_right_confirmation(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    for wrong in ("", "someone@else.test", None):
        _assert_refused(
            db,
            o.org,
            busy,
            errors.ConfirmationMismatch,
            lambda wrong=wrong: deletion.delete_user(db, busy, actor=o.admin, confirm=wrong),
        )


def test_delete_refuses_dispositions_a_kind_does_not_allow(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    ref = next(r for r in content_references() if Disposition.DELETE not in r.dispositions)
    plan = DispositionPlan(kinds={ref.kind: Disposition.DELETE})
    _assert_refused(
        db,
        o.org,
        busy,
        errors.DispositionNotAllowed,
        lambda: deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=plan),
    )
    unknown = DispositionPlan(kinds={"nothing.like.this": Disposition.SYSTEM_USER})
    _assert_refused(
        db,
        o.org,
        busy,
        errors.DispositionNotAllowed,
        lambda: deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=unknown),
    )


def test_the_successor_must_be_another_active_user(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    gone = make_user(db, o.org, dismissed=True)
    cases: list[tuple[Any, type[errors.RosterError]]] = [
        (None, errors.InvalidSuccessor),
        (busy.id, errors.InvalidSuccessor),
        (gone.id, errors.InactiveUser),
        (accounts.get_system_user(db, o.org.id).id, errors.InactiveUser),
        (make_org(db).admin.id, errors.UnknownUser),
    ]
    for successor_id, error in cases:
        plan = DispositionPlan(default=Disposition.SUCCESSOR, successor_id=successor_id)
        _assert_refused(
            db,
            o.org,
            busy,
            error,
            lambda plan=plan: deletion.delete_user(
                db, busy, actor=o.admin, confirm=busy.email, disposition=plan
            ),
        )


def test_a_refused_successor_names_its_field_by_its_path_in_the_body(client: TestClient, db: Session) -> None:
    """The problem's ``field`` is the dotted path of what was sent, as docs/api.md says:
    ``disposition.successor_id``, not a ``successor_id`` the body does not have at its top."""
    o, busy, _colleague, _other = _team(db)
    admin = auth(db, o.admin)
    stranger = make_org(db).admin
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"default": "successor"}, "invalid_successor", None),
        ({"default": "successor", "successor_id": str(busy.id)}, "invalid_successor", None),
        ({"default": "successor", "successor_id": str(stranger.id)}, "unknown_user", str(stranger.id)),
    ]
    before = snapshot(db)
    for disposition, code, user_id in cases:
        for action in ("delete", "erase"):
            answer = client.post(
                f"/api/v1/users/{busy.id}/{action}",
                json={"confirm": busy.email, "disposition": disposition},
                headers=admin,
            )
            assert answer.status_code == 422, answer.text
            problem = answer.json()
            assert problem["code"] == code, problem
            assert problem["field"] == "disposition.successor_id", problem
            assert problem.get("user_id") == user_id, problem
    assert snapshot(db) == before
    db.refresh(busy)
    assert busy.status == "active"


def test_delete_is_refused_for_oneself_the_last_admin_and_the_system_user(db: Session) -> None:
    o = make_org(db)
    _assert_refused(
        db,
        o.org,
        o.admin,
        errors.CannotActOnSelf,
        lambda: deletion.delete_user(db, o.admin, actor=o.admin, confirm=o.admin.email),
    )
    _assert_refused(
        db,
        o.org,
        o.admin,
        errors.LastAdmin,
        lambda: deletion.delete_user(db, o.admin, actor=None, confirm=o.admin.email),
    )
    system = accounts.get_system_user(db, o.org.id)
    _assert_refused(
        db,
        o.org,
        system,
        errors.SystemUserImmutable,
        lambda: deletion.delete_user(db, system, actor=o.admin, confirm=""),
    )
    employee = make_user(db, o.org)
    deletion.delete_user(db, employee, actor=o.admin, confirm=employee.email)
    _assert_refused(
        db,
        o.org,
        employee,
        errors.InvalidTransition,
        lambda: deletion.delete_user(db, employee, actor=o.admin, confirm=employee.email),
    )


def test_deleting_frees_the_email_and_the_seat_at_once(db: Session) -> None:
    o = make_org(db)
    user = make_user(db, o.org, email="again@example.test")
    take_seat(db, o.org.id)
    db.refresh(o.org)
    used = o.org.seats_used
    deletion.delete_user(db, user, actor=o.admin, confirm="AGAIN@example.test")
    db.refresh(o.org)
    assert o.org.seats_used == used - 1
    db.add(
        User(
            org_id=o.org.id,
            email="again@example.test",
            email_key=accounts.email_key("again@example.test"),
            display_name="New person",
        )
    )
    db.flush()  # the unique key on the email does not stop a new person


def test_a_dismissed_user_is_deleted_without_releasing_a_seat_they_do_not_hold(db: Session) -> None:
    o = make_org(db)
    take_seat(db, o.org.id)
    db.refresh(o.org)
    used = o.org.seats_used
    gone = make_user(db, o.org, dismissed=True)
    deletion.delete_user(db, gone, actor=o.admin, confirm=gone.email)
    db.refresh(o.org)
    assert o.org.seats_used == used


def test_moving_many_rows_costs_the_same_number_of_statements_as_moving_few(db: Session) -> None:
    """Set-based: the statements do not grow with the rows (nothing is loaded into Python)."""
    ref = next(r for r in content_references() if r.kind == "lifecycle.invitation.inviter")
    from roster import clock
    from roster.db.base import Base
    from roster.ids import new_id

    table = Base.metadata.tables[ref.table]

    def run(rows: int) -> int:
        o = make_org(db)
        inviter = make_user(db, o.org, role=Role.ADMIN)
        now = clock.now()
        db.execute(
            insert(table),
            [
                {
                    "org_id": o.org.id,
                    "id": new_id(),
                    "email": f"p{i}@example.test",
                    "email_key": f"p{i}@example.test",
                    "role": "employee",
                    "first_name": "",
                    "last_name": "",
                    "position": "",
                    "invited_by": inviter.id,
                    "token_hash": new_id().hex,
                    "status": "accepted",
                    "created_at": now,
                    "expires_at": now,
                    "sent_count": 1,
                }
                for i in range(rows)
            ],
        )
        statements: list[str] = []
        connection = db.connection()

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", count)
        try:
            result = deletion.delete_user(db, inviter, actor=o.admin, confirm=inviter.email)
        finally:
            event.remove(connection, "before_cursor_execute", count)
        assert result.moved[ref.kind] == rows
        return len(statements)

    assert run(3) == run(2000)


def test_a_missing_or_wrong_confirmation_is_a_mismatch_however_it_is_sent(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    person = make_user(db, o.org)
    admin = auth(db, o.admin)
    before = snapshot(db)
    for action in ("delete", "erase", "merge"):
        url = f"/api/v1/users/{person.id}/{action}"
        extra = {"into_id": str(o.admin.id)} if action == "merge" else {}
        sent: list[dict[str, Any] | None] = [extra, {**extra, "confirm": "x" * 400}, {**extra, "confirm": ""}]
        if action != "merge":
            sent.append(None)  # no body at all
        for body in sent:
            answer = client.post(url, json=body, headers=admin)
            assert answer.status_code == 422, (action, body, answer.text)
            assert answer.json()["code"] == "confirmation_mismatch"
    assert snapshot(db) == before
    db.refresh(person)
    assert person.status == "active"


def test_the_api_previews_and_deletes_and_the_token_dies(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    admin = auth(db, o.admin)
    busy_headers = auth(db, busy)
    assert client.get("/api/v1/me", headers=busy_headers).status_code == 200

    system = accounts.get_system_user(db, o.org.id)
    refused_preview = client.get(f"/api/v1/users/{system.id}/deletion-preview", headers=admin)
    assert refused_preview.status_code == 409, refused_preview.text  # as its deletion is
    assert refused_preview.json()["code"] == "system_user_immutable"
    preview = client.get(f"/api/v1/users/{busy.id}/deletion-preview", headers=admin)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["user"]["id"] == str(busy.id)
    assert body["total"] == sum(r["count"] for r in body["references"]) > 0

    wrong = client.post(f"/api/v1/users/{busy.id}/delete", json={"confirm": "nope"}, headers=admin)
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "confirmation_mismatch"

    kind = next(r["kind"] for r in body["references"] if "delete" not in r["dispositions"])
    refused = client.post(
        f"/api/v1/users/{busy.id}/delete",
        json={"confirm": busy.email, "disposition": {"kinds": {kind: "delete"}}},
        headers=admin,
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "disposition_not_allowed"

    answer = client.post(
        f"/api/v1/users/{busy.id}/delete",
        json={
            "confirm": busy.email,
            "disposition": {"default": "successor", "successor_id": str(colleague.id)},
        },
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["user"]["status"] == "deleted"
    assert out["user"]["restorable_until"] is not None
    assert sum(out["moved"].values()) + sum(out["deleted"].values()) == body["total"] or out["moved"]
    assert client.get("/api/v1/me", headers=busy_headers).status_code == 401

    again = client.post(f"/api/v1/users/{busy.id}/delete", json={"confirm": busy.email}, headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_the_system_user_is_found_by_its_own_index_and_there_is_one_per_organization(
    db: Session,
) -> None:
    """Every deletion looks the System User up: by the partial unique index, not by reading every
    person of the organization."""
    o = make_org(db)
    db.flush()
    sent: list[tuple[str, Any]] = []
    connection = db.connection()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        system = accounts.get_system_user(db, o.org.id)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    assert system.is_system and system.org_id == o.org.id
    [(statement, parameters)] = sent
    if connection.dialect.name == "sqlite":
        explain, no_scans = "EXPLAIN QUERY PLAN ", None
    else:  # a table this small is read whole unless told otherwise; the index must be usable
        explain, no_scans = "EXPLAIN ", "SET LOCAL enable_seqscan = off"
    savepoint = db.begin_nested()
    try:
        if no_scans:
            connection.exec_driver_sql(no_scans)
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(explain + statement, parameters))
    finally:
        savepoint.rollback()  # the setting goes with it
    assert "uq_users_system_user" in plan, plan

    second = {c: getattr(system, c) for c in ("org_id", "first_name", "display_name", "role", "status")}
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(insert(User).values(**second, id=new_id(), is_system=True))


def test_the_api_refuses_deleting_oneself_and_the_system_user(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    me = client.post(f"/api/v1/users/{o.admin.id}/delete", json={"confirm": o.admin.email}, headers=admin)
    assert me.status_code == 409
    assert me.json()["code"] == "cannot_act_on_self"
    system = accounts.get_system_user(db, o.org.id)
    answer = client.post(f"/api/v1/users/{system.id}/delete", json={"confirm": "x"}, headers=admin)
    assert answer.status_code == 409
    assert answer.json()["code"] == "system_user_immutable"


@pytest.mark.parametrize("default", [Disposition.DELETE, Disposition.SYSTEM_USER])
def test_what_a_deletion_reports_per_kind_is_what_the_preview_counted(
    client: TestClient, db: Session, default: Disposition
) -> None:
    """A row counted under two kinds in the preview (a task they created and answer for) is
    reported under both by the deletion, whether it moved or went with the other kind."""
    o = make_org(db, plan="enterprise")
    busy = make_user(db, o.org, role=Role.ADMIN)
    others = [make_user(db, o.org), make_user(db, o.org)]
    make_busy(client, db, busy, others)
    preview = {i.kind: i.count for i in deletion.preview_deletion(db, busy).references if i.count}
    refs = {r.kind: r for r in content_references()}
    plan = DispositionPlan(
        kinds={
            k: default if default in refs[k].dispositions else refs[k].default_disposition for k in preview
        }
    )

    result = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email, disposition=plan)

    reported = {k: result.moved.get(k, 0) + result.deleted.get(k, 0) for k in preview}
    assert reported == preview
