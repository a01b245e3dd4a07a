"""Erasure (GDPR Art. 17): delete and purge at once; nothing readable of the person remains."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import LargeBinary, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.db.base import Base
from roster.domain import errors
from roster.domain.users import Role
from roster.lifecycle import deletion
from roster.lifecycle.audit import verify_chain
from roster.lifecycle.deletion import DispositionPlan
from roster.lifecycle.models import AuditEvent
from roster.references import Disposition
from tests.deletion_support import audit_actions, make_busy, references_to, rows_hidden, snapshot
from tests.factories import PASSWORD, auth, make_org, make_user

FIRST, LAST = "Zelphine", "Quorvath"


def _hire_through_an_invitation(
    client: TestClient, db: Session, org_id: uuid.UUID, headers: dict[str, str]
) -> User:
    """The person arrives the real way: invited (mail in the outbox), then accepted."""
    email = f"{FIRST}.{LAST}@example.test".lower()
    invited = client.post(
        "/api/v1/invitations",
        json={"email": email, "first_name": FIRST, "last_name": LAST, "position": "Quorvath Lead"},
        headers=headers,
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["accept_url"].rsplit("/", 1)[1]
    accepted = client.post("/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    user = db.get(User, (org_id, uuid.UUID(accepted.json()["user"]["id"])))
    assert user is not None
    return user


def _find_traces(db: Session, needles: list[str]) -> list[str]:
    """Every text or JSON value, in every table, that still contains one of the needles."""
    db.flush()
    found = []
    lowered = [n.casefold() for n in needles]
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.c if not isinstance(c.type, LargeBinary)]
        for row in db.execute(select(*columns)).all():
            for column, value in zip(columns, row, strict=True):
                if value is None or isinstance(value, (int, float, bool)):
                    continue
                text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
                text = text.casefold()
                for needle in lowered:
                    if needle in text:
                        found.append(f"{table.name}.{column.name}: {value!r}")
    return found


def test_erasure_leaves_nothing_readable_of_the_person(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    admin = auth(db, o.admin)
    person = _hire_through_an_invitation(client, db, o.org.id, admin)
    person.role = Role.ADMIN.value  # so they send invitations too
    colleague = make_user(db, o.org)
    other = make_user(db, o.org)
    make_busy(client, db, person, [colleague, other])
    accounts.request_password_reset(
        db,
        client.app.state.settings,
        organization=o.org.slug,
        email=person.email,  # type: ignore[attr-defined]
    )
    email = person.email
    assert email is not None
    if hasattr(person, "scim_user_name"):  # provisioned by an identity provider too
        person.scim_user_name = email
        person.external_id = f"{FIRST}-{LAST}"
    needles = [FIRST, LAST, email]
    assert _find_traces(db, needles)  # the scan does find them while they exist

    result = deletion.erase_user(db, person, actor=o.admin, confirm=email)

    assert _find_traces(db, needles) == []
    assert result.pseudonym == "Former employee 1"
    db.refresh(person)
    assert person.status == "deleted"
    assert person.display_name == "Former employee 1"
    assert person.email is None and person.email_key is None and person.password_hash is None
    entries, total = deletion.list_authorship(db, o.org.id, user_id=person.id)
    assert total == sum(result.moved.values()) > 0
    assert {e.original_display_name for e in entries} == {"Former employee 1"}
    assert references_to(db, person) == {}  # hidden duplicates were destroyed too
    actions = audit_actions(db, o.org.id)
    assert actions[-1] == "user.erased"
    assert "audit.redacted" in actions
    # Each redaction event attests rewrites: none is written for a pass that rewrote nothing.
    redactions = db.scalars(
        select(AuditEvent).where(AuditEvent.org_id == o.org.id, AuditEvent.action == "audit.redacted")
    ).all()
    assert redactions and all(r.details["events"] > 0 for r in redactions)
    assert verify_chain(db, o.org.id).ok
    with pytest.raises(errors.RestoreWindowPassed):
        deletion.restore_user(db, person, actor=o.admin)


def test_each_erasure_gets_the_next_pseudonym(db: Session) -> None:
    o = make_org(db)
    first, second = make_user(db, o.org), make_user(db, o.org)
    assert deletion.erase_user(db, first, actor=o.admin, confirm=first.email).pseudonym == "Former employee 1"
    assert deletion.erase_user(db, second, actor=o.admin, confirm=second.email).pseudonym == (
        "Former employee 2"
    )
    other_org = make_org(db)
    third = make_user(db, other_org.org)
    assert deletion.erase_user(db, third, actor=None, confirm=third.email).pseudonym == "Former employee 1"


def test_a_deleted_user_can_be_erased_within_the_window(client: TestClient, db: Session) -> None:
    o = make_org(db, plan="enterprise")
    person = make_user(db, o.org, first_name=FIRST, last_name=LAST)
    colleague, other = make_user(db, o.org), make_user(db, o.org)
    make_busy(client, db, person, [colleague, other])
    email = person.email
    deleted = deletion.delete_user(
        db, person, actor=o.admin, confirm=email, disposition=DispositionPlan(default=Disposition.DELETE)
    )
    assert deleted.deleted

    result = deletion.erase_user(db, person, actor=o.admin, confirm=email)

    assert result.destroyed >= rows_hidden(deleted.deleted)
    assert references_to(db, person) == {}
    assert _find_traces(db, [FIRST, LAST, email]) == []  # type: ignore[list-item]
    assert deletion.purge_expired(db) == 0  # nothing left for the purge


def test_erase_refusals_change_nothing(db: Session) -> None:
    o = make_org(db)
    person = make_user(db, o.org)
    system = accounts.get_system_user(db, o.org.id)
    cases: list[tuple[User, Any, str | None, type[errors.RosterError]]] = [
        (person, o.admin, "wrong@example.test", errors.ConfirmationMismatch),
        (o.admin, o.admin, o.admin.email, errors.CannotActOnSelf),
        (o.admin, None, o.admin.email, errors.LastAdmin),
        (system, o.admin, "", errors.SystemUserImmutable),
    ]
    for user, actor, confirm, error in cases:
        before = snapshot(db)
        events = audit_actions(db, o.org.id)
        with pytest.raises(error) as refused:
            deletion.erase_user(db, user, actor=actor, confirm=confirm)
        if error is errors.CannotActOnSelf:
            assert refused.value.detail.startswith("You cannot erase your own account")
        if error is errors.SystemUserImmutable:
            assert refused.value.detail == "The System User cannot be erased."
        assert snapshot(db) == before
        assert audit_actions(db, o.org.id) == events
    deletion.erase_user(db, person, actor=o.admin, confirm=person.email)
    with pytest.raises(errors.InvalidTransition):
        deletion.erase_user(db, person, actor=o.admin, confirm=str(person.id))


def test_the_api_erases(client: TestClient, db: Session) -> None:
    o = make_org(db)
    person = make_user(db, o.org, first_name=FIRST, last_name=LAST)
    headers = auth(db, o.admin)
    wrong = client.post(f"/api/v1/users/{person.id}/erase", json={"confirm": "x"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "confirmation_mismatch"
    answer = client.post(f"/api/v1/users/{person.id}/erase", json={"confirm": person.email}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pseudonym"] == "Former employee 1"
    assert body["user"]["display_name"] == "Former employee 1"
    assert body["user"]["email"] is None
    assert FIRST not in answer.text and LAST not in answer.text


def test_an_erased_persons_earlier_addresses_leave_the_audit_log_too(client: TestClient, db: Session) -> None:
    o = make_org(db)
    person = make_user(db, o.org, first_name=FIRST, last_name=LAST, email="first.address@x.test")
    headers = auth(db, o.admin)
    reset = {"organization": o.org.slug, "email": "first.address@x.test"}
    assert client.post("/api/v1/auth/password-reset", json=reset).status_code == 202
    assert _mail_to(db, "first.address@x.test") == 1
    for address in ("second.address@x.test", "third.address@x.test"):
        changed = client.patch(f"/api/v1/users/{person.id}", json={"email": address}, headers=headers)
        assert changed.status_code == 200, changed.text
    export = client.get("/api/v1/audit/export.csv", headers=headers).text
    assert "first.address@x.test" in export and "second.address@x.test" in export
    answer = client.post(
        f"/api/v1/users/{person.id}/erase", json={"confirm": "third.address@x.test"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    export = client.get("/api/v1/audit/export.csv", headers=headers).text
    for address in ("first.address", "second.address", "third.address"):
        assert address not in export
    assert _mail_to(db, "first.address@x.test") == 0
    assert client.get("/api/v1/audit/verify", headers=headers).json()["ok"] is True


def _mail_to(db: Session, address: str) -> int:
    from sqlalchemy import func

    from roster.mail.models import OutboxMessage

    db.expire_all()
    return int(db.scalar(select(func.count()).where(OutboxMessage.to_address == address)) or 0)


def test_an_erasure_takes_the_name_out_of_other_peoples_mail_but_not_out_of_longer_words_or_links(
    db: Session,
) -> None:
    from roster.mail.service import queue_mail

    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="Lee", email="ann.lee@x.test")
    link = "https://roster.x.test/invite/rst_annLee_leeAnn"
    mail = queue_mail(
        db,
        org_id=o.org.id,
        to="anna@x.test",
        subject="Ann Lee handed you a task",
        body=f"Hello Anna, ANN LEE handed you Colleen's task. Ann's notes: {link}",
        purpose="notification",
    )
    db.flush()
    deletion.erase_user(db, ann, actor=o.admin, confirm="ann.lee@x.test")
    db.flush()
    db.refresh(mail)
    assert mail.subject == "Former employee 1 handed you a task"
    assert mail.body_text == (
        f"Hello Anna, Former employee 1 handed you Colleen's task. Former employee 1's notes: {link}"
    )
