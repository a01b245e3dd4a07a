"""The Departments pages (admins create, rename and delete departments and manage their members),
the department choice of the invitation form, and the CSV invitation's per-row explanations."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.directory import departments as depts
from roster.directory.models import Department
from roster.lifecycle.models import Invitation
from roster.settings import Settings
from tests.factories import make_org, make_user
from tests.lifecycle_helpers import actions
from tests.test_web import HTML, post, sign_in


def _members(db: Session, department: Department) -> set[str]:
    db.expire_all()
    users, _ = depts.list_department_members(db, department, include_inactive=True)
    return {u.display_name for u in users}


def test_an_admin_creates_renames_fills_and_deletes_a_department_with_plain_forms(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    bob = make_user(db, o.org, first_name="Bob", last_name="Stone")
    csrf = sign_in(client, db, settings, o.admin)
    listing = client.get("/admin/departments", headers=HTML)
    assert listing.status_code == 200 and "No departments yet" in listing.text
    assert 'href="/admin/departments" aria-current="page"' in listing.text  # in the admin navigation

    created = post(client, "/admin/departments", csrf, {"name": "  Sales  "})
    assert created.status_code == 200 and "The department Sales is created" in created.text
    sales = db.query(Department).filter_by(org_id=o.org.id).one()
    assert sales.name == "Sales"
    # The picker offers active people.
    assert f'<option value="{anna.id}"' in created.text and f'<option value="{bob.id}"' in created.text

    added = post(
        client, f"/admin/departments/{sales.id}/members", csrf, {"user_ids": [str(anna.id), str(bob.id)]}
    )
    assert "Anna Jones, Bob Stone are in Sales now." in added.text
    assert _members(db, sales) == {"Anna Jones", "Bob Stone"}
    # Already there: nothing changes, and the page says so.
    again = post(client, f"/admin/departments/{sales.id}/members", csrf, {"user_ids": [str(anna.id)]})
    assert "They are in Sales already." in again.text
    assert "2 people" in client.get("/admin/departments", headers=HTML).text

    removed = post(client, f"/admin/departments/{sales.id}/members/{bob.id}/remove", csrf)
    assert "Bob Stone is no longer in Sales." in removed.text
    assert _members(db, sales) == {"Anna Jones"}

    renamed = post(client, f"/admin/departments/{sales.id}/rename", csrf, {"name": "Sales and Marketing"})
    assert "Sales is now called Sales and Marketing." in renamed.text
    db.expire_all()
    assert db.get(Department, (o.org.id, sales.id)).name == "Sales and Marketing"  # type: ignore[union-attr]

    # Everyone sees the department on the card; the admin's card links to its page.
    card = client.get(f"/people/{anna.id}", headers=HTML).text
    assert f'<a href="/admin/departments/{sales.id}">Sales and Marketing</a>' in card

    confirm = client.get(f"/admin/departments/{sales.id}/delete", headers=HTML)
    assert confirm.status_code == 200
    assert "Sales and Marketing holds 1 person." in confirm.text
    assert "The one person in it stays in Roster, with their account and their work" in confirm.text
    deleted = post(client, f"/admin/departments/{sales.id}/delete", csrf)
    assert "The department Sales and Marketing is deleted. Its people are still in Roster." in deleted.text
    # Sent twice (a second tab, Back and the button): said, with who did it, not a 404 page.
    twice = post(client, f"/admin/departments/{sales.id}/delete", csrf)
    assert twice.status_code == 200 and twice.url.path == "/admin/departments"
    assert f"The department Sales and Marketing was deleted already, by {o.admin.display_name}." in twice.text
    # A department that never was is still not found.
    assert post(client, f"/admin/departments/{uuid.uuid4()}/delete", csrf).status_code == 404
    db.expire_all()
    assert db.query(Department).filter_by(org_id=o.org.id).count() == 0
    assert db.get(User, (o.org.id, anna.id)).status == "active"  # type: ignore[union-attr]
    # Each step went through the service, so each is in the audit log.
    assert {
        "department.created",
        "department.members_added",
        "department.members_removed",
        "department.updated",
        "department.deleted",
    } <= set(actions(db, o.org.id))


def test_a_refused_department_name_comes_back_in_the_form_with_the_reason(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(client, "/admin/departments", csrf, {"name": "Sales\x07 team"})
    assert refused.status_code == 422
    assert "Control characters are not allowed." in refused.text
    assert 'value="Sales\x07 team"' in refused.text or 'value="Sales&#7; team"' in refused.text
    empty = post(client, "/admin/departments", csrf, {"name": "   "})
    assert empty.status_code == 422 and "The department name must not be empty." in empty.text
    assert db.query(Department).filter_by(org_id=o.org.id).count() == 0

    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    db.flush()
    rename = post(client, f"/admin/departments/{sales.id}/rename", csrf, {"name": "   "})
    assert rename.status_code == 422 and "The department name must not be empty." in rename.text
    assert "<h1>Sales</h1>" in rename.text  # the page still shows the stored name
    db.expire_all()
    assert db.get(Department, (o.org.id, sales.id)).name == "Sales"  # type: ignore[union-attr]


def test_only_active_people_can_be_added_and_nobody_is_added_when_one_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    former = make_user(db, o.org, first_name="Fred", last_name="Former", dismissed=True)
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    page = client.get(f"/admin/departments/{sales.id}", headers=HTML).text
    assert f'<option value="{former.id}"' not in page
    refused = post(
        client, f"/admin/departments/{sales.id}/members", csrf, {"user_ids": [str(anna.id), str(former.id)]}
    )
    assert refused.status_code == 422
    assert "Nobody was added. Fred Former is not an active user." in refused.text
    assert re.search(rf'<option value="{anna.id}" selected', refused.text)  # the choice is kept
    assert _members(db, sales) == set()
    nobody = post(client, f"/admin/departments/{sales.id}/members", csrf, {})
    assert nobody.status_code == 422 and "Pick at least one person to add." in nobody.text


def test_the_delete_confirmation_counts_dismissed_members_and_names_the_sub_departments(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    fred = make_user(db, o.org, first_name="Fred", last_name="Former")
    company = depts.create_department(db, o.org.id, actor=o.admin, name="Company")
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales", parent_id=company.id)
    emea = depts.create_department(db, o.org.id, actor=o.admin, name="EMEA", parent_id=sales.id)
    depts.add_department_members(db, sales, [anna.id, fred.id], actor=o.admin)
    from roster.lifecycle.users import dismiss_user

    dismiss_user(db, fred, actor=o.admin)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    listing = client.get("/admin/departments", headers=HTML).text
    assert "2 people (1 dismissed)" in listing
    confirm = client.get(f"/admin/departments/{sales.id}/delete", headers=HTML).text
    assert "Sales holds 2 people (1 dismissed)." in confirm
    assert "The 2 people (1 dismissed) in it stay in Roster, with their accounts and their work" in confirm
    assert "Its 1 sub-department (EMEA) moves up to Company, with their people." in confirm
    post(client, f"/admin/departments/{sales.id}/delete", csrf)
    db.expire_all()
    assert db.get(Department, (o.org.id, emea.id)).parent_id == company.id  # type: ignore[union-attr]


def test_a_deleted_members_place_kept_by_the_system_user_is_not_listed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Deleting a member with the default disposition gives their membership to the System User
    (restore gives it back); the department's pages and API list neither of them."""
    from roster.lifecycle import deletion
    from tests.factories import auth

    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    tess = make_user(db, o.org, first_name="Tess", last_name="Test")
    engineering = depts.create_department(db, o.org.id, actor=o.admin, name="Engineering")
    depts.add_department_members(db, engineering, [anna.id, tess.id], actor=o.admin)
    deletion.delete_user(db, tess, actor=o.admin, confirm=tess.email)
    db.flush()

    assert _members(db, engineering) == {"Anna Jones"}
    sign_in(client, db, settings, o.admin)
    page = client.get(f"/admin/departments/{engineering.id}", headers=HTML).text
    assert "Anna Jones" in page and "System User" not in page
    listing = client.get("/admin/departments", headers=HTML).text
    assert "1 person" in listing
    members = client.get(
        f"/api/v1/departments/{engineering.id}/members?status=all", headers=auth(db, o.admin)
    ).json()
    assert [m["display_name"] for m in members["items"]] == ["Anna Jones"], members


def test_employees_see_department_names_but_cannot_manage_them(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    employee = make_user(db, o.org, first_name="Emma", last_name="Employee")
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    depts.add_department_members(db, sales, [employee.id], actor=o.admin)
    db.flush()
    csrf = sign_in(client, db, settings, employee)
    card = client.get(f"/people/{employee.id}", headers=HTML).text
    assert "Sales" in card and "/admin/departments" not in card
    assert f'<option value="{sales.id}"' in client.get("/people", headers=HTML).text
    for path in (
        "/admin/departments",
        f"/admin/departments/{sales.id}",
        f"/admin/departments/{sales.id}/delete",
    ):
        assert client.get(path, headers=HTML).status_code == 403, path
    refused = post(client, f"/admin/departments/{sales.id}/delete", csrf)
    assert refused.status_code == 403
    assert db.get(Department, (o.org.id, sales.id)) is not None


def test_the_invitation_form_puts_the_new_person_in_the_chosen_department(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    form = client.get("/people/invite", headers=HTML).text
    assert (
        f'<option value="{sales.id}" >Sales</option>' in form or f'<option value="{sales.id}">Sales' in form
    )
    # A refusal keeps the chosen department.
    refused = post(client, "/people/invite", csrf, {"email": "not-an-email", "department_id": str(sales.id)})
    assert refused.status_code == 422
    assert f'<option value="{sales.id}" selected>Sales</option>' in refused.text
    sent = post(client, "/people/invite", csrf, {"email": "sam@example.test", "department_id": str(sales.id)})
    assert sent.status_code == 200 and "1 invitation sent" in sent.text
    invitation = db.query(Invitation).filter_by(org_id=o.org.id, email="sam@example.test").one()
    assert invitation.department_id == sales.id
    # A department deleted while the form was open is explained next to the field.
    depts.delete_department(db, sales, actor=o.admin)
    db.flush()
    gone = post(client, "/people/invite", csrf, {"email": "tia@example.test", "department_id": str(sales.id)})
    assert gone.status_code == 422 and "That department no longer exists; choose another." in gone.text
    assert 'value="tia@example.test"' in gone.text


def test_a_csv_invitation_explains_each_rows_own_problem_before_an_unknown_department(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    colleague = make_user(db, o.org)
    former = make_user(db, o.org, dismissed=True)
    csrf = sign_in(client, db, settings, o.admin)
    data = (
        "email,first_name,last_name,position,department\n"
        "not-an-email,,,,Sales\n"
        f"{colleague.email},,,,Sales\n"
        f"{former.email},,,,Sales\n"
        "new.person@example.test,New,Person,,Sales\n"
    ).encode()
    answer = post(client, "/people/invite/bulk", csrf, files={"file": ("people.csv", data, "text/csv")})
    assert answer.status_code == 200 and "4 not invited" in answer.text
    rows = dict(re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>(.*?)</td></tr>", answer.text, re.S))
    assert "is not a valid" in rows["not-an-email"] or "must have an @-sign" in rows["not-an-email"]
    assert "A user with this address exists." in rows[colleague.email]
    assert "rehire them instead" in rows[former.email]
    assert f'href="/people/{former.id}/rehire"' in rows[former.email]
    assert (
        "There is no department named “Sales”. Create it on the Departments page"
        in rows["new.person@example.test"]
    )
    assert 'href="/admin/departments"' in rows["new.person@example.test"]
    assert all("department" not in rows[e] for e in ("not-an-email", colleague.email, former.email))
    assert "No department is called “Sales”." in answer.text

    # Once it exists, the same file invites the new person into it.
    sales = depts.create_department(db, o.org.id, actor=o.admin, name="Sales")
    db.flush()
    again = post(client, "/people/invite/bulk", csrf, files={"file": ("people.csv", data, "text/csv")})
    assert "1 invitation sent" in again.text and "3 not invited" in again.text
    invitation = db.query(Invitation).filter_by(org_id=o.org.id, email="new.person@example.test").one()
    assert invitation.department_id == sales.id
