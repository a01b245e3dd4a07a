"""Invitations: invite, bulk invite, resend, revoke, expire, look up, accept."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.lifecycle.invitations import expire_invitations, invite_user
from roster.lifecycle.models import Invitation
from roster.lifecycle.seats import get_seat_ledger
from roster.mail.models import OutboxMessage
from roster.settings import Settings
from tests.factories import PASSWORD, OrgWithAdmin, auth, make_org, make_user
from tests.lifecycle_helpers import actions, events

API = "/api/v1"


def _invite(client: TestClient, headers: dict[str, str], email: str, **extra: object) -> dict:
    response = client.post(f"{API}/invitations", json={"email": email, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _token(body: dict) -> str:
    return body["accept_url"].rsplit("/invite/", 1)[1]


def test_inviting_takes_a_seat_queues_mail_and_records_the_event(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    body = _invite(client, headers, "New.Person@Example.test", first_name="New", role="admin")
    assert body["status"] == "pending" and body["role"] == "admin"
    assert body["accept_url"].startswith("http://testserver/invite/rst_")
    assert get_seat_ledger(db, o.org.id).used == 2
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.org_id == o.org.id)).all()
    assert [m.to_address for m in mail] == ["New.Person@example.test"]
    assert body["accept_url"] in mail[0].body_text and mail[0].purpose == "invitation"
    [event] = events(db, o.org.id, "user.invited")
    assert event.actor_id == o.admin.id and event.details["email"] == "New.Person@example.test"
    stored = db.get(Invitation, (o.org.id, uuid.UUID(body["id"])))
    assert stored is not None and _token(body) not in stored.token_hash  # only a hash is kept


def test_inviting_an_invalid_address_is_refused_and_changes_nothing(db: Session, client: TestClient) -> None:
    o = make_org(db)
    response = client.post(f"{API}/invitations", json={"email": "not an email"}, headers=auth(db, o.admin))
    assert response.status_code == 422 and response.json()["code"] == "invalid_email"
    assert get_seat_ledger(db, o.org.id).used == 1
    assert actions(db, o.org.id) == []


def test_inviting_an_active_users_or_pending_address_is_email_in_use(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    erin = make_user(db, o.org, email="erin@example.test")
    assert erin.status == "active"
    response = client.post(f"{API}/invitations", json={"email": "ERIN@example.test"}, headers=headers)
    assert response.status_code == 409 and response.json()["code"] == "email_in_use"
    _invite(client, headers, "fresh@example.test")
    response = client.post(f"{API}/invitations", json={"email": "Fresh@Example.test"}, headers=headers)
    assert response.status_code == 409 and response.json()["code"] == "email_in_use"
    assert get_seat_ledger(db, o.org.id).used == 2
    assert actions(db, o.org.id) == ["user.invited"]


def test_inviting_a_dismissed_users_address_offers_rehire(db: Session, client: TestClient) -> None:
    o = make_org(db)
    former = make_user(db, o.org, email="former@example.test", dismissed=True)
    response = client.post(
        f"{API}/invitations", json={"email": "former@example.test"}, headers=auth(db, o.admin)
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "email_belongs_to_dismissed_user" and body["user_id"] == str(former.id)
    assert body["field"] == "email"  # as email_in_use names it


def test_the_seeds_user_already_exists_never_happens_after_a_delete(db: Session, client: TestClient) -> None:
    o = make_org(db)
    gone = make_user(db, o.org, email="gone@example.test")
    # The state deletion leaves: status deleted, email_key NULL (the address is free at once).
    db.execute(
        update(User)
        .where(User.org_id == o.org.id, User.id == gone.id)
        .values(status="deleted", email_key=None, deleted_at=clock.now())
    )
    body = _invite(client, auth(db, o.admin), "gone@example.test")
    accepted = client.post(f"{API}/invitations/accept", json={"token": _token(body), "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["user"]["id"] != str(gone.id)


def test_accepting_makes_an_active_signed_in_user_and_keeps_the_seat(db: Session, client: TestClient) -> None:
    o = make_org(db)
    body = _invite(client, auth(db, o.admin), "joiner@example.test", first_name="Jo", position="Engineer")
    token = _token(body)
    lookup = client.get(f"{API}/invitations/lookup", params={"token": token})
    assert lookup.status_code == 200
    assert lookup.json()["organization"] == o.org.slug and lookup.json()["email"] == "joiner@example.test"
    response = client.post(
        f"{API}/invitations/accept", json={"token": token, "password": PASSWORD, "last_name": "Joiner"}
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert (
        user["status"] == "active" and user["display_name"] == "Jo Joiner" and user["position"] == "Engineer"
    )
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    ledger = get_seat_ledger(db, o.org.id)
    assert (ledger.used, ledger.active, ledger.pending_invitations) == (2, 2, 0)
    [event] = events(db, o.org.id, "invitation.accepted")
    assert str(event.actor_id) == user["id"] and str(event.subject_id) == user["id"]
    # Single use: the link is dead now.
    again = client.post(f"{API}/invitations/accept", json={"token": token, "password": PASSWORD})
    assert again.status_code == 404
    assert client.get(f"{API}/invitations/lookup", params={"token": token}).status_code == 404


def test_accepting_with_a_weak_password_changes_nothing(db: Session, client: TestClient) -> None:
    o = make_org(db)
    body = _invite(client, auth(db, o.admin), "weak.person@example.test")
    # Too short; among the most common passwords; built on the invited address.
    for weak in ("short", "1234567890", "weak.person2026"):
        response = client.post(f"{API}/invitations/accept", json={"token": _token(body), "password": weak})
        assert response.status_code == 422 and response.json()["code"] == "weak_password", weak
    invitation = db.get(Invitation, (o.org.id, uuid.UUID(body["id"])))
    assert invitation is not None
    db.refresh(invitation)
    assert invitation.status == "pending"


def test_unknown_and_garbage_tokens_are_404(client: TestClient) -> None:
    for token in ["", "nonsense", f"rst_{uuid.uuid4().hex}_{'x' * 43}"]:
        assert client.get(f"{API}/invitations/lookup", params={"token": token}).status_code == 404
        response = client.post(f"{API}/invitations/accept", json={"token": token, "password": PASSWORD})
        assert response.status_code == 404


def test_an_expired_invitation_is_410_and_its_seat_is_freed(db: Session, client: TestClient) -> None:
    o = make_org(db)
    body = _invite(client, auth(db, o.admin), "late@example.test")
    clock.advance(timedelta(days=7, seconds=1))
    response = client.post(f"{API}/invitations/accept", json={"token": _token(body), "password": PASSWORD})
    assert response.status_code == 410 and response.json()["code"] == "invitation_expired"
    assert client.get(f"{API}/invitations/lookup", params={"token": _token(body)}).status_code == 410
    assert expire_invitations(db) >= 1
    assert get_seat_ledger(db, o.org.id).used == 1
    assert events(db, o.org.id, "invitations.expired")[0].details["count"] == 1
    listed = client.get(f"{API}/invitations", params={"status": "expired"}, headers=auth(db, o.admin))
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]


def test_resend_gives_a_new_link_and_kills_the_old_one(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    body = _invite(client, headers, "resend@example.test")
    response = client.post(f"{API}/invitations/{body['id']}/resend", headers=headers)
    assert response.status_code == 200
    new = response.json()
    assert new["accept_url"] != body["accept_url"] and new["status"] == "pending"
    assert client.get(f"{API}/invitations/lookup", params={"token": _token(body)}).status_code == 404
    assert client.get(f"{API}/invitations/lookup", params={"token": _token(new)}).status_code == 200
    assert get_seat_ledger(db, o.org.id).used == 2  # still one seat
    assert actions(db, o.org.id) == ["user.invited", "invitation.resent"]
    assert db.scalar(select(OutboxMessage.id).where(OutboxMessage.subject.contains("invited")).limit(1))


def test_resending_an_expired_invitation_takes_a_seat_again(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    body = _invite(client, headers, "again@example.test")
    clock.advance(timedelta(days=8))
    expire_invitations(db, o.org.id)
    assert get_seat_ledger(db, o.org.id).used == 1
    response = client.post(f"{API}/invitations/{body['id']}/resend", headers=auth(db, o.admin))
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert get_seat_ledger(db, o.org.id).used == 2


def test_revoking_frees_the_seat_and_kills_the_link(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    body = _invite(client, headers, "revoked@example.test")
    assert client.delete(f"{API}/invitations/{body['id']}", headers=headers).status_code == 204
    assert get_seat_ledger(db, o.org.id).used == 1
    assert client.get(f"{API}/invitations/lookup", params={"token": _token(body)}).status_code == 404
    response = client.post(f"{API}/invitations/accept", json={"token": _token(body), "password": PASSWORD})
    assert response.status_code == 404
    # Twice is a no-op: one event, one seat released.
    assert client.delete(f"{API}/invitations/{body['id']}", headers=headers).status_code == 204
    assert get_seat_ledger(db, o.org.id).used == 1
    assert actions(db, o.org.id) == ["user.invited", "invitation.revoked"]
    resend = client.post(f"{API}/invitations/{body['id']}/resend", headers=headers)
    assert resend.status_code == 409 and resend.json()["code"] == "invalid_transition"
    # The address may be invited again.
    _invite(client, headers, "revoked@example.test")


def test_invitation_list_filters_by_status(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    a = _invite(client, headers, "a@example.test")
    b = _invite(client, headers, "b@example.test")
    client.delete(f"{API}/invitations/{a['id']}", headers=headers)
    pending = client.get(f"{API}/invitations", params={"status": "pending"}, headers=headers).json()
    assert [i["id"] for i in pending["items"]] == [b["id"]] and pending["total"] == 1
    assert all(i["accept_url"] is None for i in pending["items"])
    everything = client.get(f"{API}/invitations", headers=headers).json()
    assert everything["total"] == 2
    bad = client.get(f"{API}/invitations", params={"status": "nonsense"}, headers=headers)
    assert bad.status_code == 422


def test_another_organizations_invitation_does_not_exist(db: Session, client: TestClient) -> None:
    mine, theirs = make_org(db), make_org(db)
    invitation, _ = invite_user(db, theirs.org.id, actor=theirs.admin, email="x@example.test")
    headers = auth(db, mine.admin)
    assert client.delete(f"{API}/invitations/{invitation.id}", headers=headers).status_code == 404
    assert client.post(f"{API}/invitations/{invitation.id}/resend", headers=headers).status_code == 404


def test_employees_cannot_invite(db: Session, client: TestClient) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    response = client.post(f"{API}/invitations", json={"email": "x@example.test"}, headers=auth(db, employee))
    assert response.status_code == 403


def test_bulk_invite_reports_each_row_and_a_failed_row_changes_nothing(
    db: Session, client: TestClient
) -> None:
    o = make_org(db)
    make_user(db, o.org, email="taken@example.test")
    make_user(db, o.org, email="former@example.test", dismissed=True)
    response = client.post(
        f"{API}/invitations/bulk",
        json={
            "emails": [
                "one@example.test",
                "taken@example.test",
                "bad",
                "former@example.test",
                "one@example.test",
            ]
        },
        headers=auth(db, o.admin),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["email"] for c in body["created"]] == ["one@example.test"]
    assert [(f["email"], f["code"]) for f in body["failed"]] == [
        ("taken@example.test", "email_in_use"),
        ("bad", "invalid_email"),
        ("former@example.test", "email_belongs_to_dismissed_user"),
        ("one@example.test", "email_in_use"),
    ]
    assert body["failed"][2]["user_id"] is not None
    taken = db.scalars(select(User).where(User.org_id == o.org.id, User.email == "taken@example.test")).one()
    assert body["failed"][0]["user_id"] == str(taken.id)
    single = client.post(
        f"{API}/invitations", json={"email": "Taken@example.test"}, headers=auth(db, o.admin)
    )
    assert single.status_code == 409 and single.json()["user_id"] == str(taken.id)
    assert get_seat_ledger(db, o.org.id).used == 2
    assert actions(db, o.org.id) == ["user.invited"]


def test_bulk_invite_stops_at_the_seat_limit_row_by_row(db: Session, client: TestClient) -> None:
    o = make_org(db)  # free: 12 seats, the admin holds one
    emails = [f"p{i}@example.test" for i in range(13)]
    body = client.post(f"{API}/invitations/bulk", json={"emails": emails}, headers=auth(db, o.admin)).json()
    assert len(body["created"]) == 11
    assert {f["code"] for f in body["failed"]} == {"seat_limit_reached"} and len(body["failed"]) == 2
    assert get_seat_ledger(db, o.org.id).used == 12


def test_bulk_failures_carry_what_the_single_refusal_carries(db: Session, client: TestClient) -> None:
    """A row refused for a pending invitation names it (as POST /invitations does, to offer
    resend), and a row refused for the seat limit says the plan and its limit."""
    o = make_org(db)  # free: 12 seats, the admin holds one
    headers = auth(db, o.admin)
    pending = _invite(client, headers, "pending@example.test")
    single = client.post(f"{API}/invitations", json={"email": "pending@example.test"}, headers=headers)
    assert single.json()["invitation_id"] == pending["id"]
    emails = ["pending@example.test"] + [f"p{i}@example.test" for i in range(11)]
    body = client.post(f"{API}/invitations/bulk", json={"emails": emails}, headers=headers).json()
    assert len(body["created"]) == 10
    first, last = body["failed"]
    assert (first["code"], first["invitation_id"]) == ("email_in_use", pending["id"])
    assert (last["code"], last["plan"], last["limit"]) == ("seat_limit_reached", "free", 12)


def test_bulk_invite_accepts_a_csv_upload(db: Session, client: TestClient) -> None:
    o = make_org(db)
    data = (
        b"email,first_name,last_name,position,department\n"
        b"ann@example.test,Ann,Able,Designer,\n"
        b"bob@example.test,Bob,Baker,,\n"
        b"broken,,,,\n"
    )
    response = client.post(
        f"{API}/invitations/bulk",
        files={"file": ("people.csv", data, "text/csv")},
        headers=auth(db, o.admin),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(c["email"], c["first_name"], c["position"]) for c in body["created"]] == [
        ("ann@example.test", "Ann", "Designer"),
        ("bob@example.test", "Bob", ""),
    ]
    assert [f["code"] for f in body["failed"]] == ["invalid_email"]


def test_a_csv_row_with_a_name_or_position_past_its_limit_fails_instead_of_being_cut(
    db: Session, client: TestClient
) -> None:
    # The JSON routes refuse such values (422); a CSV row must not be shortened without a word.
    o = make_org(db)
    data = (
        "email,first_name,last_name,position\n"
        f"long.first@example.test,{'F' * 101},Able,\n"
        f"long.last@example.test,Ann,{'L' * 101},\n"
        f"long.position@example.test,Ann,Able,{'P' * 201}\n"
        f"just.fits@example.test,{'F' * 100},{'L' * 100},{'P' * 200}\n"
    ).encode()
    response = client.post(
        f"{API}/invitations/bulk",
        files={"file": ("people.csv", data, "text/csv")},
        headers=auth(db, o.admin),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["email"] for c in body["created"]] == ["just.fits@example.test"]
    assert [(f["email"], f["code"]) for f in body["failed"]] == [
        ("long.first@example.test", "text_too_long"),
        ("long.last@example.test", "text_too_long"),
        ("long.position@example.test", "text_too_long"),
    ]
    assert [
        i["email"] for i in client.get(f"{API}/invitations", headers=auth(db, o.admin)).json()["items"]
    ] == ["just.fits@example.test"]


def test_bulk_invite_refuses_a_csv_without_an_email_column(db: Session, client: TestClient) -> None:
    o = make_org(db)
    response = client.post(
        f"{API}/invitations/bulk",
        files={"file": ("people.csv", b"name\nAnn\n", "text/csv")},
        headers=auth(db, o.admin),
    )
    assert response.status_code == 422


def test_a_csv_upload_with_an_unknown_role_is_refused_whole(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    response = client.post(
        f"{API}/invitations/bulk",
        files={"file": ("people.csv", b"email\nann@example.test\n", "text/csv")},
        data={"role": "owner"},
        headers=headers,
    )
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_failed", "role")
    assert client.get(f"{API}/invitations", headers=headers).json()["total"] == 0


def test_bulk_invite_with_an_empty_body_is_422(db: Session, client: TestClient) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    assert client.post(f"{API}/invitations/bulk", json={"emails": []}, headers=headers).status_code == 422
    response = client.post(f"{API}/invitations/bulk", content=b"{not json", headers=headers)
    assert response.status_code == 422


def test_a_malformed_csv_upload_is_422_as_a_malformed_photo_or_file_is(
    db: Session, client: TestClient
) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    for content_type, body in [
        ("multipart/form-data", b"email\nann@example.test\n"),  # no boundary
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="file"; file'),
    ]:
        response = client.post(
            f"{API}/invitations/bulk", content=body, headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["code"], response.json()["field"]) == ("validation_failed", "file")
    assert client.get(f"{API}/invitations", headers=headers).json()["total"] == 0


def test_an_invitation_with_a_department_puts_the_new_user_in_it(db: Session, client: TestClient) -> None:
    from roster.directory.departments import create_department

    o = make_org(db)
    sales = create_department(db, o.org.id, actor=o.admin, name="Sales")
    headers = auth(db, o.admin)
    body = _invite(client, headers, "seller@example.test", department_id=str(sales.id))
    assert body["department_id"] == str(sales.id)
    accepted = client.post(f"{API}/invitations/accept", json={"token": _token(body), "password": PASSWORD})
    assert accepted.status_code == 201
    assert accepted.json()["user"]["department_id"] == str(sales.id)
    unknown = client.post(
        f"{API}/invitations",
        json={"email": "x@example.test", "department_id": str(uuid.uuid4())},
        headers=headers,
    )
    assert unknown.status_code == 422


def test_a_csv_row_may_name_its_department(db: Session, client: TestClient) -> None:
    from roster.directory.departments import create_department

    o = make_org(db)
    sales = create_department(db, o.org.id, actor=o.admin, name="Sales")
    data = b"email,first_name,last_name,position,department\nann@example.test,Ann,,,sales\nbob@example.test,Bob,,,Nowhere\n"
    body = client.post(
        f"{API}/invitations/bulk", files={"file": ("p.csv", data, "text/csv")}, headers=auth(db, o.admin)
    ).json()
    assert [(c["email"], c["department_id"]) for c in body["created"]] == [
        ("ann@example.test", str(sales.id))
    ]
    assert [(f["email"], f["code"]) for f in body["failed"]] == [("bob@example.test", "unknown_department")]
    assert "Create it on the Departments page" in body["failed"][0]["detail"]


def test_a_csv_rows_own_problem_comes_before_its_unknown_department(db: Session, client: TestClient) -> None:
    o = make_org(db)
    colleague = make_user(db, o.org)
    former = make_user(db, o.org, dismissed=True)
    rows = [
        "not-an-email",
        colleague.email,
        former.email,
        "new.person@example.test",
    ]
    data = (
        "email,first_name,last_name,position,department\n" + "".join(f"{r},,,,Sales\n" for r in rows)
    ).encode()
    body = client.post(
        f"{API}/invitations/bulk", files={"file": ("p.csv", data, "text/csv")}, headers=auth(db, o.admin)
    ).json()
    assert body["created"] == []
    assert [(f["email"], f["code"]) for f in body["failed"]] == [
        ("not-an-email", "invalid_email"),
        (colleague.email, "email_in_use"),
        (former.email, "email_belongs_to_dismissed_user"),
        ("new.person@example.test", "unknown_department"),
    ]
    assert body["failed"][2]["user_id"] == str(former.id)
    assert body["failed"][3]["detail"].startswith("There is no department named “Sales”.")


def test_a_duplicate_pending_invitation_is_refused_by_the_database_and_gives_its_seat_back(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roster.domain import errors
    from roster.lifecycle import invitations

    o = make_org(db)
    invite_user(db, o.org.id, actor=o.admin, email="twice@example.test")
    used = get_seat_ledger(db, o.org.id).used
    # As if a concurrent request passed the check before the first invitation was written.
    monkeypatch.setattr(invitations, "check_email_is_free", lambda *a, **k: None)
    with pytest.raises(errors.EmailInUse):
        invite_user(db, o.org.id, actor=o.admin, email="twice@example.test")
    assert get_seat_ledger(db, o.org.id).used == used


@pytest.mark.parametrize(
    "data",
    [
        b"email,first_name\nann@x.test," + b"a" * 200_000 + b"\n",  # past the csv module's field limit
        b"email," + b"c" * 200_000 + b"\nann@x.test,Ann\n",  # in the header line
    ],
    ids=["field", "header"],
)
def test_a_csv_the_csv_module_cannot_read_is_a_422_through_the_api_and_the_page(
    db: Session, client: TestClient, settings: Settings, data: bytes
) -> None:
    o = make_org(db)
    answer, page = _send_csv_to_the_api_and_the_page(client, db, settings, o, data)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("validation_failed", "file")
    assert page.status_code == 422 and "could not be read" in page.text
    assert db.scalars(select(Invitation).where(Invitation.org_id == o.org.id)).all() == []


def test_a_csv_over_the_limit_is_refused_as_a_csv_file_through_the_api_and_the_page(
    db: Session, client: TestClient, settings: Settings
) -> None:
    from roster.lifecycle.invitations import CSV_MAX_BYTES

    o = make_org(db)
    # A valid file, a little over the limit (within what the body limit lets through for framing).
    rows = b"email\n" + b"".join(f"p{n}@example.test\n".encode() for n in range(CSV_MAX_BYTES // 18))
    data = rows[: CSV_MAX_BYTES + 1000].rsplit(b"\n", 1)[0] + b"\n"
    assert CSV_MAX_BYTES < len(data) < CSV_MAX_BYTES + 16 * 1024
    answer, page = _send_csv_to_the_api_and_the_page(client, db, settings, o, data)
    assert answer.status_code == 413 and answer.json()["detail"] == "The CSV file is larger than 5 MB."
    assert answer.json()["limit"] == answer.json()["max_bytes"] == CSV_MAX_BYTES
    assert page.status_code == 413 and "The CSV file is larger than 5 MB." in page.text
    assert "photo" not in page.text.lower().split("<main", 1)[-1]
    assert db.scalars(select(Invitation).where(Invitation.org_id == o.org.id)).all() == []


def _send_csv_to_the_api_and_the_page(
    client: TestClient, db: Session, settings: Settings, o: OrgWithAdmin, data: bytes
) -> tuple[Any, Any]:
    """The same CSV file, as a bulk invitation through the API, then through the invite page."""
    from tests.test_web import HTML, sign_in

    answer = client.post(
        f"{API}/invitations/bulk", files={"file": ("people.csv", data, "text/csv")}, headers=auth(db, o.admin)
    )
    csrf = sign_in(client, db, settings, o.admin)
    page = client.post(
        "/people/invite/bulk",
        data={"csrf_token": csrf},
        files={"file": ("people.csv", data, "text/csv")},
        headers=HTML,
    )
    return answer, page
