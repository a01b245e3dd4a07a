"""The audit log is append-only and hash-chained; verify finds edits and removals, not redactions."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from roster.accounts.models import Organization
from roster.lifecycle.audit import record_event, redact_user, verify_chain
from roster.lifecycle.models import AuditEvent
from tests.factories import make_org, make_user


def _three_events(db: Session) -> tuple[Organization, list[AuditEvent]]:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Example", email="erin@example.test")
    events = [
        record_event(db, org_id=o.org.id, action="user.invited", actor=o.admin, details={"email": erin.email}),
        record_event(db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=erin),
        record_event(db, org_id=o.org.id, action="plan.changed", actor=None, details={"old": "free", "new": "plus"}),
    ]
    return o.org, events


def test_an_untouched_chain_verifies(db: Session) -> None:
    org, events = _three_events(db)
    result = verify_chain(db, org.id)
    assert result.ok and result.events == 3 and result.problems == []
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].prev_hash == events[0].hash


def test_the_chains_of_two_organizations_are_independent(db: Session) -> None:
    first, _ = _three_events(db)
    second, events = _three_events(db)
    assert events[0].seq == 1
    assert verify_chain(db, first.id).ok and verify_chain(db, second.id).ok


def test_verify_detects_an_edited_event(db: Session) -> None:
    org, events = _three_events(db)
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
    db.execute(update(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.seq == 2).values(action="user.rehired"))
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
        update(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.seq == 2).values(subject_display="Someone")
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
