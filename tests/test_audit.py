"""The audit log is append-only and hash-chained; verify finds edits and removals, not redactions."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import Organization, User
from roster.lifecycle.audit import record_event, redact_user, verify_chain
from roster.lifecycle.models import AuditEvent
from tests.factories import auth, make_org, make_user


def _three_events(db: Session) -> tuple[Organization, list[AuditEvent]]:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Example", email="erin@example.test")
    events = [
        record_event(
            db, org_id=o.org.id, action="user.invited", actor=o.admin, details={"email": erin.email}
        ),
        record_event(db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=erin),
        record_event(
            db, org_id=o.org.id, action="plan.changed", actor=None, details={"old": "free", "new": "plus"}
        ),
    ]
    return o.org, events


def test_an_untouched_chain_verifies(db: Session) -> None:
    org, events = _three_events(db)
    result = verify_chain(db, org.id)
    assert result.ok and result.events == 3 and result.problems == []
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].prev_hash == events[0].hash


def test_an_event_about_a_person_not_yet_written_writes_them_first(db: Session) -> None:
    # Events are appended with statements executed through the session (which flushes first), not
    # on its connection: a subject added but not flushed must be written before its event.
    o = make_org(db)
    newcomer = User(
        org_id=o.org.id,
        email="new@example.test",
        email_key="new@example.test",
        first_name="New",
        last_name="Comer",
        display_name="New Comer",
        role="employee",
        status="active",
    )
    db.add(newcomer)
    # No actor: reading one's name may load it, which would flush the session by itself.
    event = record_event(db, org_id=o.org.id, action="user.provisioned", actor=None, subject=newcomer)
    stored = db.scalars(select(AuditEvent).where(AuditEvent.org_id == o.org.id, AuditEvent.seq == event.seq))
    assert [(e.subject_id, e.subject_display, e.hash) for e in stored] == [
        (newcomer.id, "New Comer", event.hash)
    ]
    assert verify_chain(db, o.org.id).ok


def test_the_chains_of_two_organizations_are_independent(db: Session) -> None:
    first, _ = _three_events(db)
    second, events = _three_events(db)
    assert events[0].seq == 1
    assert verify_chain(db, first.id).ok and verify_chain(db, second.id).ok


def test_verify_detects_an_edited_event(db: Session) -> None:
    org, _ = _three_events(db)
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.org_id == org.id, AuditEvent.seq == 3)
        .values(details={"old": "free", "new": "enterprise"})
    )
    result = verify_chain(db, org.id)
    assert not result.ok
    assert [(p["seq"], p["problem"]) for p in result.problems] == [(3, "edited")]


def test_verify_detects_an_edited_action(db: Session) -> None:
    org, _ = _three_events(db)
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.org_id == org.id, AuditEvent.seq == 2)
        .values(action="user.rehired")
    )
    result = verify_chain(db, org.id)
    assert [(p["seq"], p["problem"]) for p in result.problems] == [(2, "edited")]


def test_verify_detects_a_deleted_event_in_the_middle(db: Session) -> None:
    org, _ = _three_events(db)
    db.execute(delete(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.seq == 2))
    result = verify_chain(db, org.id)
    assert not result.ok and result.events == 2
    assert {p["problem"] for p in result.problems} == {"missing", "broken_link"}


def test_verify_detects_the_newest_event_deleted(db: Session) -> None:
    org, _ = _three_events(db)
    db.execute(delete(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.seq == 3))
    result = verify_chain(db, org.id)
    assert not result.ok
    assert result.problems[0]["problem"] == "missing"


def test_a_redaction_verifies_and_removes_the_persons_name_and_email(db: Session) -> None:
    org, events = _three_events(db)
    erin_id = events[1].subject_id
    assert erin_id is not None
    changed = redact_user(db, org_id=org.id, user_id=erin_id, pseudonym="Former employee 7")
    assert changed == 2
    rows = db.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id).order_by(AuditEvent.seq)).all()
    text = repr([(r.actor_display, r.subject_display, r.details) for r in rows[:3]])
    assert "Erin" not in text and "erin@example.test" not in text
    assert rows[0].details == {"email": "Former employee 7"}
    assert rows[1].subject_display == "Former employee 7"
    assert rows[3].action == "audit.redacted" and rows[3].details["events"] == 2
    result = verify_chain(db, org.id)
    assert result.ok, result.problems
    assert result.redacted == 2


def test_editing_a_redacted_event_is_still_tampering(db: Session) -> None:
    org, events = _three_events(db)
    erin_id = events[1].subject_id
    assert erin_id is not None
    redact_user(db, org_id=org.id, user_id=erin_id, pseudonym="Former employee 7")
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.org_id == org.id, AuditEvent.seq == 2)
        .values(subject_display="Someone")
    )
    result = verify_chain(db, org.id)
    assert [(p["seq"], p["problem"]) for p in result.problems] == [(2, "edited")]


def test_a_forged_redaction_record_is_tampering(db: Session) -> None:
    org, events = _three_events(db)
    erin_id = events[1].subject_id
    assert erin_id is not None
    redact_user(db, org_id=org.id, user_id=erin_id, pseudonym="Former employee 7")
    # Someone rewrites event 3 and claims the redaction did it.
    from roster.lifecycle.audit import personal_digest_of

    forged = {"old": "free", "new": "enterprise"}
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.org_id == org.id, AuditEvent.seq == 3)
        .values(details=forged, redactions=[{"seq": 4, "digest": personal_digest_of("System", "", forged)}])
    )
    result = verify_chain(db, org.id)
    assert not result.ok
    assert {p["problem"] for p in result.problems} == {"unattested_redaction"}


API = "/api/v1"


def test_the_audit_api_lists_newest_first_with_filters(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    erin = make_user(db, o.org)
    client.post(f"{API}/invitations", json={"email": "new@example.test"}, headers=headers)
    client.post(f"{API}/users/{erin.id}/dismiss", headers=headers)
    client.post(f"{API}/users/{erin.id}/rehire", headers=headers)
    body = client.get(f"{API}/audit", headers=headers).json()
    assert [e["action"] for e in body["items"]] == ["user.rehired", "user.dismissed", "user.invited"]
    assert body["total"] == 3
    first = body["items"][0]
    assert first["actor"] == {"id": str(o.admin.id), "display_name": "Ada Admin"}
    assert first["subject"]["id"] == str(erin.id) and first["details"]["old_status"] == "dismissed"
    by_subject = client.get(f"{API}/audit", params={"subject_id": str(erin.id)}, headers=headers).json()
    assert [e["action"] for e in by_subject["items"]] == ["user.rehired", "user.dismissed"]
    by_action = client.get(f"{API}/audit", params={"action": "user.invited"}, headers=headers).json()
    assert by_action["total"] == 1
    by_prefix = client.get(f"{API}/audit", params={"action": "user."}, headers=headers).json()
    assert by_prefix["total"] == 3
    by_actor = client.get(f"{API}/audit", params={"actor_id": str(erin.id)}, headers=headers).json()
    assert by_actor["total"] == 0
    paged = client.get(f"{API}/audit", params={"per_page": 1, "page": 2}, headers=headers).json()
    assert [e["action"] for e in paged["items"]] == ["user.dismissed"] and paged["total"] == 3
    now = clock.now()
    later = client.get(
        f"{API}/audit", params={"since": (now + timedelta(minutes=1)).isoformat()}, headers=headers
    )
    assert later.json()["total"] == 0
    earlier = client.get(
        f"{API}/audit", params={"until": (now + timedelta(minutes=1)).isoformat()}, headers=headers
    )
    assert earlier.json()["total"] == 3
    assert client.get(f"{API}/audit", params={"per_page": 500}, headers=headers).status_code == 422


def test_the_audit_log_is_admin_only_and_per_organization(db: Session, client: TestClient) -> None:
    mine, theirs = make_org(db), make_org(db)
    record_event(db, org_id=theirs.org.id, action="plan.changed", actor=theirs.admin)
    assert client.get(f"{API}/audit", headers=auth(db, mine.admin)).json()["total"] == 0
    assert client.get(f"{API}/audit", headers=auth(db, make_user(db, mine.org))).status_code == 403
    assert client.get(f"{API}/audit/verify", headers=auth(db, make_user(db, mine.org))).status_code == 403


def test_the_audit_export_is_csv_newest_first(db: Session, client: TestClient) -> None:
    o = make_org(db)
    record_event(
        db, org_id=o.org.id, action="plan.changed", actor=o.admin, details={"old": "free", "new": "plus"}
    )
    record_event(db, org_id=o.org.id, action="settings.changed", actor=o.admin, details={"x": "=HYPERLINK()"})
    db.commit()  # the export reads through its own session (a savepoint release here)
    response = client.get(f"{API}/audit/export.csv", headers=auth(db, o.admin))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["seq", "created_at", "action"]
    assert [r[2] for r in rows[1:]] == ["settings.changed", "plan.changed"]
    assert json.loads(rows[2][7]) == {"new": "plus", "old": "free"}
    assert rows[1][4] == "Ada Admin"
    filtered = client.get(
        f"{API}/audit/export.csv", params={"action": "plan.changed"}, headers=auth(db, o.admin)
    )
    assert len(list(csv.reader(io.StringIO(filtered.text)))) == 2


def test_the_verify_endpoint_reports_tampering(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    client.put(f"{API}/organization/plan", json={"plan": "plus"}, headers=headers)
    client.put(f"{API}/organization/plan", json={"plan": "standard"}, headers=headers)
    ok = client.get(f"{API}/audit/verify", headers=headers).json()
    assert ok["ok"] is True and ok["events"] == 2
    db.execute(delete(AuditEvent).where(AuditEvent.org_id == o.org.id, AuditEvent.seq == 1))
    broken = client.get(f"{API}/audit/verify", headers=headers).json()
    assert broken["ok"] is False and broken["events"] == 1 and broken["problems"]


def test_every_lifecycle_action_leaves_a_verifiable_chain(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    invited = client.post(f"{API}/invitations", json={"email": "c@example.test"}, headers=headers).json()
    token = invited["accept_url"].rsplit("/", 1)[1]
    client.post(f"{API}/invitations/{invited['id']}/resend", headers=headers)
    other = client.post(f"{API}/invitations", json={"email": "d@example.test"}, headers=headers).json()
    client.delete(f"{API}/invitations/{other['id']}", headers=headers)
    assert (
        client.post(f"{API}/invitations/accept", json={"token": token, "password": "x" * 3}).status_code
        == 404
    )
    user = make_user(db, o.org)
    client.post(f"{API}/users/{user.id}/dismiss", headers=headers)
    client.patch(f"{API}/organization/settings", json={"restore_window_days": 10}, headers=headers)
    result = verify_chain(db, o.org.id)
    assert result.ok and result.events == 6


def test_a_redaction_also_replaces_the_name_parts_held_on_their_own(db: Session) -> None:
    o = make_org(db)
    zoe = make_user(db, o.org, first_name="Zoe", last_name="Quist", email="zq@example.test")
    record_event(
        db,
        org_id=o.org.id,
        action="user.invited",
        actor=o.admin,
        details={"email": "zq@example.test", "first_name": "Zoe", "last_name": "Quist", "role": "employee"},
    )
    record_event(db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=zoe)
    assert redact_user(db, org_id=o.org.id, user_id=zoe.id, pseudonym="Former employee 3") == 2
    invited = db.scalars(select(AuditEvent).where(AuditEvent.org_id == o.org.id, AuditEvent.seq == 1)).one()
    assert invited.details == {
        "email": "Former employee 3",
        "first_name": "Former employee 3",
        "last_name": "Former employee 3",
        "role": "employee",
    }
    assert verify_chain(db, o.org.id).ok


def test_redacting_twice_keeps_the_chain_valid(db: Session) -> None:
    org, events = _three_events(db)
    erin_id = events[1].subject_id
    assert erin_id is not None
    redact_user(db, org_id=org.id, user_id=erin_id, pseudonym="Former employee 7")
    redact_user(
        db, org_id=org.id, user_id=erin_id, pseudonym="Former employee 8", names=["Former employee 7"]
    )
    result = verify_chain(db, org.id)
    assert result.ok, result.problems
    rows = db.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id).order_by(AuditEvent.seq)).all()
    assert rows[1].subject_display == "Former employee 8" and len(rows[1].redactions or []) == 2


def test_an_event_name_the_log_does_not_list_is_refused(db: Session) -> None:
    o = make_org(db)
    before = db.scalar(select(Organization.audit_seq).where(Organization.id == o.org.id))
    with pytest.raises(ValueError, match=r"user\.vanished"):
        record_event(db, org_id=o.org.id, action="user.vanished", actor=o.admin)
    assert db.scalar(select(Organization.audit_seq).where(Organization.id == o.org.id)) == before


def test_every_event_name_belongs_to_one_family_of_the_action_filter() -> None:
    from roster.domain.audit import AUDIT_ACTIONS, AUDIT_FAMILIES, action_groups

    groups = action_groups()
    listed = [name for g in groups for name, _ in g.actions]
    assert sorted(listed) == sorted(AUDIT_ACTIONS)
    assert all(
        g.prefix[:-1] in AUDIT_FAMILIES and all(n.startswith(g.prefix) for n, _ in g.actions) for g in groups
    )


def test_the_pages_reading_of_details_keeps_every_key_and_every_item() -> None:
    import uuid

    from roster.web.audit_view import Names, describe_details

    known = uuid.uuid4()
    unknown = uuid.uuid4()
    ids = [str(uuid.uuid4()) for _ in range(7)]
    details = {
        "user_ids": [str(known), str(unknown)],
        "invitation_ids": ids,
        "employees_may_change_photo": {"old": True, "new": False},
        "old_limit": 12,
        "new_limit": None,
        "something_new": "kept",
    }
    shown = {d.key: d for d in describe_details(details, Names(people={known: "Kim Known"}))}
    assert set(shown) == set(details)
    assert shown["user_ids"].text == f"Kim Known, {unknown}"
    assert shown["invitation_ids"].text == "7 in all" and shown["invitation_ids"].items == ids
    assert shown["employees_may_change_photo"].text == "yes → no"
    assert shown["new_limit"].text == "unlimited" and shown["old_limit"].text == "12"
    assert shown["something_new"].label == "Something new" and shown["something_new"].text == "kept"
    assert json.loads(shown["user_ids"].raw) == details["user_ids"]


def test_a_redaction_leaves_other_peoples_addresses_and_names_that_only_contain_the_name(
    db: Session,
) -> None:
    o = make_org(db)
    test = make_user(db, o.org, first_name="Test", last_name="Ann", email="test.ann@demo.test")
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones", email="anna.jones@demo.test")
    record_event(
        db, org_id=o.org.id, action="user.invited", actor=o.admin, details={"email": "ravi.patel@demo.test"}
    )
    record_event(db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=anna)
    record_event(
        db,
        org_id=o.org.id,
        action="user.dismissed",
        actor=o.admin,
        subject=test,
        details={"reason": "Test left; Ann's laptop went to Anna (anna.jones@demo.test). Bye, Test."},
    )
    assert redact_user(db, org_id=o.org.id, user_id=test.id, pseudonym="Former employee 4") == 1
    rows = db.scalars(select(AuditEvent).where(AuditEvent.org_id == o.org.id).order_by(AuditEvent.seq)).all()
    assert rows[0].details == {"email": "ravi.patel@demo.test"}
    assert rows[1].subject_display == "Anna Jones"
    assert rows[2].subject_display == "Former employee 4"
    assert rows[2].details == {
        "reason": "Former employee 4 left; Former employee 4's laptop went to Anna (anna.jones@demo.test). "
        "Bye, Former employee 4."
    }
    assert verify_chain(db, o.org.id).ok
