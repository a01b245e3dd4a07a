"""CRM leads through the API: the shared pipeline, its filters, who changes what, refusals."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roster.crm.models import Lead
from tests.factories import auth, make_org, make_user

API = "/api/v1"


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    answer = client.post(f"{API}/crm/leads", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _rows(db: Session) -> int:
    """Leads not hidden (deleted ones are in the trash: tests/test_trash.py)."""
    return db.scalar(select(func.count()).select_from(Lead).where(Lead.hidden_by.is_(None))) or 0


def test_a_lead_is_entered_with_its_contact_and_people(client: TestClient, db: Session) -> None:
    o = make_org(db)
    seller = make_user(db, o.org, first_name="Sam")
    owner = make_user(db, o.org, first_name="Olga")

    lead = _create(
        client,
        auth(db, seller),
        title=" Fleet renewal 2027 ",
        responsible_id=str(owner.id),
        contact_name="Grace Hopper",
        contact_email="Grace@Navy.example",
        contact_phone="+1 (555) 010-2030",
        company="US Navy",
        notes="Met at the expo.\nWants a demo.",
    )

    assert lead["title"] == "Fleet renewal 2027"
    assert lead["status"] == "new"
    assert lead["contact_email"] == "Grace@navy.example"
    assert lead["contact_phone"] == "+1 (555) 010-2030"
    assert lead["responsible"]["id"] == str(owner.id)
    assert lead["created_by"] == {
        "id": str(seller.id),
        "display_name": seller.display_name,
        "status": "active",
        "is_system": False,
    }
    assert client.get(f"{API}/crm/leads/{lead['id']}", headers=auth(db, o.admin)).json() == lead


def test_bad_contact_details_are_refused_and_nothing_is_written(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    base = {"title": "Lead", "responsible_id": str(o.admin.id)}
    for extra, code in (
        ({"contact_email": "not an email"}, "invalid_email"),
        ({"contact_phone": "call me maybe"}, "validation_failed"),
        ({"title": "   "}, "empty_text"),
        ({"title": "x" * 301}, "text_too_long"),
        ({"status": "maybe"}, "validation_failed"),
    ):
        answer = client.post(f"{API}/crm/leads", json={**base, **extra}, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
    assert _rows(db) == 0


def test_a_lead_for_an_inactive_or_unknown_person_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    other = make_org(db)
    gone = make_user(db, o.org, dismissed=True)
    headers = auth(db, o.admin)

    answer = client.post(
        f"{API}/crm/leads", json={"title": "L", "responsible_id": str(gone.id)}, headers=headers
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "inactive_user" and answer.json()["field"] == "responsible_id"
    answer = client.post(
        f"{API}/crm/leads", json={"title": "L", "responsible_id": str(other.admin.id)}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["code"] == "unknown_user"
    lead = _create(client, headers, title="Kept", responsible_id=str(o.admin.id))
    answer = client.patch(
        f"{API}/crm/leads/{lead['id']}", json={"responsible_id": str(gone.id)}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["code"] == "inactive_user"
    assert client.get(f"{API}/crm/leads/{lead['id']}", headers=headers).json()["responsible"]["id"] == str(
        o.admin.id
    )
    assert _rows(db) == 1


def test_everyone_sees_the_pipeline_filtered_and_paged(client: TestClient, db: Session) -> None:
    o = make_org(db)
    anna, ben = make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, anna)
    ids = [_create(client, headers, title=f"Lead {i}", responsible_id=str(anna.id))["id"] for i in range(3)]
    won = _create(client, headers, title="Won one", responsible_id=str(ben.id), status="won")["id"]

    viewer = auth(db, make_user(db, o.org))
    everything = client.get(f"{API}/crm/leads", headers=viewer).json()
    assert everything["total"] == 4
    assert [lead["id"] for lead in everything["items"]] == [won, *reversed(ids)]
    assert [
        lead["id"] for lead in client.get(f"{API}/crm/leads?status=won", headers=viewer).json()["items"]
    ] == [won]
    bens = client.get(f"{API}/crm/leads?responsible_id={ben.id}", headers=viewer).json()
    assert [lead["id"] for lead in bens["items"]] == [won]
    page = client.get(f"{API}/crm/leads?per_page=2&page=2", headers=viewer).json()
    assert page["total"] == 4 and [lead["id"] for lead in page["items"]] == [ids[1], ids[0]]
    assert client.get(f"{API}/crm/leads?per_page=0", headers=viewer).status_code == 422


def test_the_creator_responsible_and_admins_change_a_lead(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator, responsible, bystander = (make_user(db, o.org) for _ in range(3))
    lead = _create(client, auth(db, creator), title="Deal", responsible_id=str(responsible.id))
    url = f"{API}/crm/leads/{lead['id']}"

    refused = client.patch(url, json={"status": "lost"}, headers=auth(db, bystander))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.patch(url, json={"status": "contacted"}, headers=auth(db, responsible)).json()[
        "status"
    ] == ("contacted")
    answer = client.patch(url, json={"company": "Initech", "contact_phone": ""}, headers=auth(db, creator))
    assert answer.json()["company"] == "Initech" and answer.json()["status"] == "contacted"
    answer = client.patch(
        url, json={"status": "won", "responsible_id": str(creator.id)}, headers=auth(db, o.admin)
    )
    assert answer.json()["status"] == "won" and answer.json()["responsible"]["id"] == str(creator.id)


def test_only_the_creator_or_an_admin_deletes_a_lead(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator, responsible = make_user(db, o.org), make_user(db, o.org)
    first = _create(client, auth(db, creator), title="One", responsible_id=str(responsible.id))
    second = _create(client, auth(db, creator), title="Two", responsible_id=str(responsible.id))

    refused = client.delete(f"{API}/crm/leads/{first['id']}", headers=auth(db, responsible))
    assert refused.status_code == 403
    assert client.delete(f"{API}/crm/leads/{first['id']}", headers=auth(db, creator)).status_code == 204
    assert client.delete(f"{API}/crm/leads/{second['id']}", headers=auth(db, o.admin)).status_code == 204
    assert client.get(f"{API}/crm/leads/{first['id']}", headers=auth(db, creator)).status_code == 404
    assert _rows(db) == 0


def test_another_organizations_leads_do_not_exist(client: TestClient, db: Session) -> None:
    o, other = make_org(db), make_org(db)
    lead = _create(client, auth(db, o.admin), title="Ours", responsible_id=str(o.admin.id))
    url = f"{API}/crm/leads/{lead['id']}"
    headers = auth(db, other.admin)
    assert client.get(url, headers=headers).status_code == 404
    assert client.patch(url, json={"title": "Theirs"}, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert client.get(f"{API}/crm/leads", headers=headers).json() == {"items": [], "total": 0}
    assert client.get(url, headers=auth(db, o.admin)).json()["title"] == "Ours"


def test_hidden_leads_are_left_out(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    lead = _create(client, headers, title="Hidden", responsible_id=str(o.admin.id))
    row = db.get(Lead, (o.org.id, uuid.UUID(lead["id"])))
    assert row is not None
    row.hidden_by = uuid.uuid4()
    db.flush()
    assert client.get(f"{API}/crm/leads", headers=headers).json()["total"] == 0
    assert client.get(f"{API}/crm/leads/{lead['id']}", headers=headers).status_code == 404


def test_dismissed_people_on_leads_show_marked_or_as_former_employee(client: TestClient, db: Session) -> None:
    o = make_org(db)
    seller = make_user(db, o.org, first_name="Vera", last_name="Gone")
    lead = _create(client, auth(db, seller), title="Orphan", responsible_id=str(seller.id))
    seller.status = "dismissed"
    db.flush()
    headers = auth(db, o.admin)
    shown = client.get(f"{API}/crm/leads/{lead['id']}", headers=headers).json()
    assert shown["responsible"] == {
        "id": str(seller.id),
        "display_name": "Vera Gone",
        "status": "dismissed",
        "is_system": False,
    }
    o.org.show_former_employee_names = False
    db.flush()
    shown = client.get(f"{API}/crm/leads", headers=headers).json()["items"][0]
    assert shown["responsible"]["display_name"] == shown["created_by"]["display_name"] == "Former employee"


def test_a_lead_is_not_entered_by_someone_dismissed_since_signing_in(db: Session) -> None:
    import pytest

    from roster.accounts.models import User
    from roster.crm.service import create_lead
    from roster.domain import errors

    o = make_org(db)
    seller = make_user(db, o.org)
    db.execute(
        update(User)
        .where(User.id == seller.id)
        .values(status="dismissed")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(errors.Unauthorized):
        create_lead(db, actor=seller, title="Too late", responsible_id=o.admin.id)
    assert _rows(db) == 0
