"""Tasks, CRM leads and the drive in the pages: editing a lead, deleting a task, a lead or a file
behind a confirmation, the admins' list of every task, their notes of who originally created a task,
and a task's own page for everyone who may see it."""

from __future__ import annotations

import io
import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.crm import service as crm
from roster.crm.models import Lead
from roster.drive import service as drive
from roster.drive.models import DriveFile
from roster.drive.storage import get_storage
from roster.settings import Settings
from roster.tasks import service as tasks
from roster.tasks.models import Task
from tests.factories import make_org, make_user
from tests.test_web import HTML, post, sign_in


def _lead(db: Session, org_id: object, lead_id: object) -> Lead | None:
    """The lead, unless it is deleted (in the trash, hidden) or gone."""
    db.expire_all()
    lead = db.get(Lead, (org_id, lead_id))
    return lead if lead is not None and lead.hidden_by is None else None


def _task(db: Session, org_id: object, task_id: object) -> Task | None:
    """The task, unless it is deleted (in the trash, hidden) or gone."""
    db.expire_all()
    task = db.get(Task, (org_id, task_id))
    return task if task is not None and task.hidden_by is None else None


# --- Editing a lead -----------------------------------------------------------------------------


def test_a_lead_can_be_edited_in_every_field_by_its_responsible_person(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org)
    responsible = make_user(db, o.org)
    successor = make_user(db, o.org, first_name="Sam", last_name="Successor")
    lead = crm.create_lead(
        db,
        actor=creator,
        title="Northwind renewal",
        responsible_id=responsible.id,
        company="Northwind",
        notes="Called in May",
    )
    db.flush()
    csrf = sign_in(client, db, settings, responsible)
    listing = client.get("/crm", headers=HTML).text
    assert f'href="/crm/leads/{lead.id}/edit"' in listing
    form = client.get(f"/crm/leads/{lead.id}/edit", headers=HTML)
    assert form.status_code == 200
    assert 'value="Northwind renewal"' in form.text and "Called in May" in form.text

    saved = post(
        client,
        f"/crm/leads/{lead.id}/edit",
        csrf,
        {
            "title": "Northwind renewal 2031",
            "responsible_id": str(successor.id),
            "company": "Northwind Traders",
            "contact_name": "Nancy Davolio",
            "contact_email": "Nancy@Northwind.test",
            "contact_phone": "+44 20 7946 0000",
            "notes": "Called in May\nWants a quote",
            "status": "qualified",
        },
    )
    assert saved.status_code == 200 and "The lead is saved." in saved.text
    assert str(saved.url).endswith("/crm")
    changed = _lead(db, o.org.id, lead.id)
    assert changed is not None
    assert (changed.title, changed.company, changed.contact_name) == (
        "Northwind renewal 2031",
        "Northwind Traders",
        "Nancy Davolio",
    )
    assert changed.contact_email == "Nancy@northwind.test"  # the service normalizes the domain
    assert changed.contact_phone == "+44 20 7946 0000"
    assert changed.notes == "Called in May\nWants a quote"
    assert changed.status == "qualified" and changed.responsible_id == successor.id


def test_a_lead_edit_is_refused_to_someone_the_service_does_not_allow(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org)
    outsider = make_user(db, o.org)
    lead = crm.create_lead(db, actor=creator, title="Contoso pilot", responsible_id=creator.id)
    db.flush()
    csrf = sign_in(client, db, settings, outsider)
    assert f'href="/crm/leads/{lead.id}/edit"' not in client.get("/crm", headers=HTML).text
    form = client.get(f"/crm/leads/{lead.id}/edit", headers=HTML)
    assert form.status_code == 403
    assert "Only the lead&#39;s creator, its responsible person or an admin may change it." in form.text
    refused = post(
        client,
        f"/crm/leads/{lead.id}/edit",
        csrf,
        {"title": "Taken over", "responsible_id": str(outsider.id), "status": "lost"},
    )
    assert refused.status_code == 403
    unchanged = _lead(db, o.org.id, lead.id)
    assert unchanged is not None
    assert (unchanged.title, unchanged.status, unchanged.responsible_id) == (
        "Contoso pilot",
        "new",
        creator.id,
    )
    # An admin may: the service says so.
    csrf = sign_in(client, db, settings, o.admin)
    assert client.get(f"/crm/leads/{lead.id}/edit", headers=HTML).status_code == 200
    saved = post(
        client,
        f"/crm/leads/{lead.id}/edit",
        csrf,
        {"title": "Contoso pilot", "responsible_id": str(creator.id), "status": "contacted"},
    )
    assert "The lead is saved." in saved.text
    assert _lead(db, o.org.id, lead.id).status == "contacted"  # type: ignore[union-attr]


def test_a_refused_lead_edit_shows_the_form_again_with_what_was_typed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    lead = crm.create_lead(db, actor=o.admin, title="Fabrikam", responsible_id=o.admin.id)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(
        client,
        f"/crm/leads/{lead.id}/edit",
        csrf,
        {
            "title": "Fabrikam expansion",
            "responsible_id": str(o.admin.id),
            "company": "Fabrikam Inc",
            "contact_phone": "call me maybe",
            "notes": "Met at the fair",
            "status": "won",
        },
    )
    assert refused.status_code == 422
    page = refused.text
    assert 'value="Fabrikam expansion"' in page and 'value="Fabrikam Inc"' in page
    assert 'value="call me maybe"' in page and "Met at the fair" in page
    assert '<option value="won" selected>' in page
    assert 'id="e-contact_phone">That is not a phone number.' in page
    unchanged = _lead(db, o.org.id, lead.id)
    assert unchanged is not None
    assert (unchanged.title, unchanged.company, unchanged.status) == ("Fabrikam", "", "new")


# --- Editing a task -----------------------------------------------------------------------------


def _offered(page: str, name: str) -> str:
    found = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)
    assert found, name
    return found.group(0)


def test_someone_who_left_stays_in_their_own_place_on_a_task_and_is_offered_in_no_other(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    responsible = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lena", last_name="Leaver")
    task = tasks.create_task(
        db,
        actor=responsible,
        title="Hire a tester",
        responsible_id=responsible.id,
        participant_ids=[leaver.id],
    )
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    sign_in(client, db, settings, responsible)
    form = client.get(f"/tasks/{task.id}/edit", headers=HTML).text
    # Kept as a participant, so that saving the form keeps them there...
    assert f'<option value="{leaver.id}" selected>' in _offered(form, "participant_ids")
    # ...but nobody may newly pick them: they left.
    assert str(leaver.id) not in _offered(form, "responsible_id")
    assert str(leaver.id) not in _offered(form, "observer_ids")


def _field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<div class="field-error" id="e-{name}">([^<]*)</div>', page)
    return found.group(1).replace("&#39;", "'") if found else None


def test_a_stale_task_form_naming_several_people_who_left_marks_each_field_and_saves_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The form was loaded, then the responsible person picked and an observer picked left: both
    fields are marked at once, the observer stays picked beside the error (not dropped unseen, to be
    left off on the next save), and the task is as it was."""
    from roster.lifecycle.deletion import delete_user
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    owner = make_user(db, o.org)
    watcher = make_user(db, o.org, first_name="Wanda", last_name="Watcher")
    xavier = make_user(db, o.org, first_name="Xavier", last_name="Exit")
    yvonne = make_user(db, o.org, first_name="Yvonne", last_name="Gone")
    task = tasks.create_task(
        db, actor=owner, title="Order chairs", responsible_id=owner.id, observer_ids=[watcher.id]
    )
    db.flush()
    csrf = sign_in(client, db, settings, owner)
    assert client.get(f"/tasks/{task.id}/edit", headers=HTML).status_code == 200
    dismiss_user(db, xavier, actor=o.admin)
    delete_user(db, yvonne, actor=o.admin, confirm=yvonne.email)
    db.flush()

    sent = {
        "title": "Order desks",
        "responsible_id": str(xavier.id),
        "observer_ids": [str(watcher.id), str(yvonne.id)],
    }
    refused = post(client, f"/tasks/{task.id}/edit", csrf, sent)
    assert refused.status_code == 422
    assert (
        _field_error(refused.text, "responsible_id")
        == "That person is no longer active: choose someone else."
    )
    assert (
        _field_error(refused.text, "observer_ids")
        == "That person's account was deleted: choose someone else."
    )
    observers = _offered(refused.text, "observer_ids")
    assert f'<option value="{yvonne.id}" selected>' in observers
    assert f'<option value="{watcher.id}" selected>' in observers
    assert 'value="Order desks"' in refused.text
    saved = _task(db, o.org.id, task.id)
    assert saved is not None and (saved.title, saved.responsible_id) == ("Order chairs", owner.id)
    people = tasks.load_people(db, o.org.id, [saved])
    assert people.observers[task.id] == [watcher.id]

    # The form for a new task, too, keeps such a pick beside its error rather than losing it.
    refused = post(client, "/tasks", csrf, {**sent, "title": "New chairs"})
    assert refused.status_code == 422
    assert _field_error(refused.text, "responsible_id") and _field_error(refused.text, "observer_ids")
    assert f'<option value="{yvonne.id}" selected>' in _offered(refused.text, "observer_ids")
    assert str(yvonne.id) not in _offered(refused.text, "participant_ids")
    assert db.scalars(select(Task).where(Task.title == "New chairs")).first() is None


def test_a_task_form_missing_its_responsible_person_and_with_a_bad_deadline_marks_both(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(
        client, "/tasks", csrf, {"title": "Order chairs", "responsible_id": "", "deadline": "soon"}
    )
    assert refused.status_code == 422
    assert _field_error(refused.text, "responsible_id") == "Pick who is responsible."
    assert _field_error(refused.text, "deadline") == "Enter the deadline as a date, such as 2027-03-31."
    assert db.scalars(select(Task).where(Task.org_id == o.org.id)).first() is None


# --- Deleting a task or a lead ------------------------------------------------------------------


def test_a_task_is_deleted_only_after_its_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org)
    task = tasks.create_task(db, actor=creator, title="Order the stationery", responsible_id=creator.id)
    db.flush()
    csrf = sign_in(client, db, settings, creator)
    assert f'href="/tasks/{task.id}/delete"' in client.get(f"/tasks/{task.id}/edit", headers=HTML).text
    confirm = client.get(f"/tasks/{task.id}/delete", headers=HTML)
    assert confirm.status_code == 200
    assert "Order the stationery" in confirm.text
    assert f'<form method="post" action="/tasks/{task.id}/delete">' in confirm.text
    assert _task(db, o.org.id, task.id) is not None  # opening the confirmation deletes nothing

    done = post(client, f"/tasks/{task.id}/delete", csrf)
    assert done.status_code == 200 and str(done.url).endswith("/tasks")
    assert "“Order the stationery” is moved to the trash." in done.text
    assert _task(db, o.org.id, task.id) is None


def test_a_task_cannot_be_deleted_by_someone_the_service_does_not_allow(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    responsible = make_user(db, o.org)
    task = tasks.create_task(db, actor=o.admin, title="Book the venue", responsible_id=responsible.id)
    db.flush()
    # The responsible person may change the task, not delete it.
    csrf = sign_in(client, db, settings, responsible)
    assert f'href="/tasks/{task.id}/delete"' not in client.get(f"/tasks/{task.id}/edit", headers=HTML).text
    confirm = client.get(f"/tasks/{task.id}/delete", headers=HTML)
    assert confirm.status_code == 403
    assert "Only the task&#39;s creator or an admin may delete it." in confirm.text
    refused = post(client, f"/tasks/{task.id}/delete", csrf)
    assert "Only the task&#39;s creator or an admin may delete it." in refused.text
    assert _task(db, o.org.id, task.id) is not None


def test_a_lead_is_deleted_only_after_its_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org)
    lead = crm.create_lead(db, actor=creator, title="Tailspin Toys", responsible_id=o.admin.id)
    db.flush()
    # An admin may delete anyone's lead.
    csrf = sign_in(client, db, settings, o.admin)
    edit = client.get(f"/crm/leads/{lead.id}/edit", headers=HTML).text
    assert f'href="/crm/leads/{lead.id}/delete"' in edit
    confirm = client.get(f"/crm/leads/{lead.id}/delete", headers=HTML)
    assert confirm.status_code == 200 and "Tailspin Toys" in confirm.text
    assert f'<form method="post" action="/crm/leads/{lead.id}/delete">' in confirm.text
    assert _lead(db, o.org.id, lead.id) is not None

    done = post(client, f"/crm/leads/{lead.id}/delete", csrf)
    assert done.status_code == 200 and str(done.url).endswith("/crm")
    assert "“Tailspin Toys” is moved to the trash." in done.text
    assert _lead(db, o.org.id, lead.id) is None


def test_a_lead_cannot_be_deleted_by_someone_the_service_does_not_allow(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    responsible = make_user(db, o.org)
    lead = crm.create_lead(db, actor=o.admin, title="Litware", responsible_id=responsible.id)
    db.flush()
    csrf = sign_in(client, db, settings, responsible)
    edit = client.get(f"/crm/leads/{lead.id}/edit", headers=HTML)
    assert edit.status_code == 200 and f'href="/crm/leads/{lead.id}/delete"' not in edit.text
    confirm = client.get(f"/crm/leads/{lead.id}/delete", headers=HTML)
    assert confirm.status_code == 403
    assert "Only the lead&#39;s creator or an admin may delete it." in confirm.text
    refused = post(client, f"/crm/leads/{lead.id}/delete", csrf)
    assert "Only the lead&#39;s creator or an admin may delete it." in refused.text
    assert _lead(db, o.org.id, lead.id) is not None


def _file(db: Session, settings: Settings, owner: User, name: str) -> DriveFile:
    stored = drive.upload_file(
        db,
        actor=owner,
        name=name,
        content_type="text/plain",
        stream=io.BytesIO(b"minutes"),
        storage=get_storage(settings, owner.org_id),
        max_bytes=1024,
    )
    db.flush()
    return stored


def _drive_file(db: Session, org_id: object, file_id: object) -> DriveFile | None:
    """The file, unless it is deleted (in the trash, hidden) or gone."""
    db.expire_all()
    file = db.get(DriveFile, (org_id, file_id))
    return file if file is not None and file.hidden_by is None else None


def test_a_file_is_deleted_only_after_its_confirmation_and_waits_in_the_trash(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    file = _file(db, settings, owner, "board-minutes.txt")
    csrf = sign_in(client, db, settings, owner)
    listing = client.get("/drive", headers=HTML).text
    # A link to the confirmation, not a form that deletes at once (no JavaScript needed).
    assert f'href="/drive/{file.id}/delete"' in listing
    assert f'action="/drive/{file.id}/delete"' not in listing
    confirm = client.get(f"/drive/{file.id}/delete", headers=HTML)
    assert confirm.status_code == 200
    assert "Delete this file?" in confirm.text and "board-minutes.txt" in confirm.text
    assert f'<form method="post" action="/drive/{file.id}/delete">' in confirm.text
    assert 'href="/drive">Cancel</a>' in confirm.text
    assert _drive_file(db, o.org.id, file.id) is not None  # opening the confirmation deletes nothing

    done = post(client, f"/drive/{file.id}/delete", csrf)
    assert done.status_code == 200 and str(done.url).endswith("/drive")
    assert "“board-minutes.txt” is moved to the trash." in done.text
    assert _drive_file(db, o.org.id, file.id) is None
    assert "board-minutes.txt" in client.get("/trash", headers=HTML).text


def test_an_admin_may_delete_anyones_file_from_its_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    file = _file(db, settings, owner, "rota.txt")
    csrf = sign_in(client, db, settings, o.admin)
    assert f'href="/drive/{file.id}/delete"' in client.get("/drive", headers=HTML).text
    confirm = client.get(f"/drive/{file.id}/delete", headers=HTML)
    assert confirm.status_code == 200 and "rota.txt" in confirm.text
    done = post(client, f"/drive/{file.id}/delete", csrf)
    assert "“rota.txt” is moved to the trash." in done.text
    assert _drive_file(db, o.org.id, file.id) is None


def test_a_file_cannot_be_deleted_by_someone_the_service_does_not_allow(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    colleague = make_user(db, o.org)
    file = _file(db, settings, owner, "salaries.txt")
    csrf = sign_in(client, db, settings, colleague)
    listing = client.get("/drive", headers=HTML).text
    assert "salaries.txt" in listing and f'href="/drive/{file.id}/delete"' not in listing
    confirm = client.get(f"/drive/{file.id}/delete", headers=HTML)
    assert confirm.status_code == 403
    assert "Only the file&#39;s owner or an admin may delete it." in confirm.text
    refused = post(client, f"/drive/{file.id}/delete", csrf)
    assert "Only the file&#39;s owner or an admin may delete it." in refused.text
    assert _drive_file(db, o.org.id, file.id) is not None


# --- Every task of the organization, for admins -------------------------------------------------


def test_an_admin_is_offered_every_task_of_the_organization_on_the_tasks_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    other = make_org(db)
    rita, sam = make_user(db, o.org), make_user(db, o.org)
    tasks.create_task(db, actor=rita, title="Between colleagues", responsible_id=sam.id)
    trashed = tasks.create_task(db, actor=rita, title="Thrown away", responsible_id=sam.id)
    tasks.delete_task(db, trashed, actor=rita)
    tasks.create_task(db, actor=other.admin, title="Elsewhere", responsible_id=other.admin.id)
    db.flush()
    sign_in(client, db, settings, o.admin)
    mine = client.get("/tasks", headers=HTML).text
    assert 'href="/tasks?role=everyone"' in mine and "All tasks in the organization" in mine
    assert "Between colleagues" not in mine  # the admin takes no part in it
    everyone = client.get("/tasks?role=everyone", headers=HTML)
    assert everyone.status_code == 200
    assert "<h1>All tasks in the organization</h1>" in everyone.text
    assert 'href="/tasks">My tasks</a>' in everyone.text
    assert "Between colleagues" in everyone.text
    assert "Thrown away" not in everyone.text and "Elsewhere" not in everyone.text


def test_an_employee_is_not_offered_every_task_and_is_refused_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    tasks.create_task(db, actor=o.admin, title="Board only", responsible_id=o.admin.id)
    db.flush()
    sign_in(client, db, settings, employee)
    page = client.get("/tasks", headers=HTML)
    assert page.status_code == 200
    assert "role=everyone" not in page.text and "All tasks in the organization" not in page.text
    refused = client.get("/tasks?role=everyone", headers=HTML)
    assert refused.status_code == 403
    assert "Only an administrator may list every task in the organization." in refused.text
    assert "Board only" not in refused.text


# --- Who originally created a task --------------------------------------------------------------


def test_admins_see_who_originally_created_a_task_and_employees_do_not(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    employee = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    tasks.create_task(
        db,
        actor=leaver,
        title="Renew the lease",
        responsible_id=employee.id,
        observer_ids=[o.admin.id],
    )
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/tasks", headers=HTML).text
    assert "Renew the lease" in page
    assert "by System User" in page and f'Originally created by <a href="/people/{leaver.id}"' in page
    sign_in(client, db, settings, employee)
    page = client.get("/tasks", headers=HTML).text
    assert "Renew the lease" in page and "by System User" in page and "Lee Leaver" not in page


# --- A task's own page --------------------------------------------------------------------------


def test_a_participant_opens_a_task_and_reads_its_description(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org, first_name="Cleo", last_name="Creator")
    participant = make_user(db, o.org, first_name="Pat", last_name="Participant")
    observer = make_user(db, o.org, first_name="Olive", last_name="Observer")
    task = tasks.create_task(
        db,
        actor=creator,
        title="Plan the offsite",
        responsible_id=creator.id,
        participant_ids=[participant.id],
        observer_ids=[observer.id],
        description="Book the venue\n<b>Order</b> lunch",
    )
    db.flush()
    sign_in(client, db, settings, participant)
    listing = client.get("/tasks", headers=HTML).text
    assert f'<a href="/tasks/{task.id}">Plan the offsite</a>' in listing
    assert f'href="/tasks/{task.id}/edit"' not in listing
    page = client.get(f"/tasks/{task.id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert '<a href="/tasks">Tasks</a> / Plan the offsite' in text
    # Escaped, its line break kept (the block keeps white space as a post's body does).
    assert '<div class="post-body">Book the venue\n&lt;b&gt;Order&lt;/b&gt; lunch</div>' in text
    for name in ("Cleo Creator", "Pat Participant", "Olive Observer"):
        assert name in text
    # Seeing a task is not changing it: no Edit or Delete, no status form.
    assert f'href="/tasks/{task.id}/edit"' not in text and f'href="/tasks/{task.id}/delete"' not in text
    assert f'action="/tasks/{task.id}/status"' not in text

    sign_in(client, db, settings, observer)
    assert "Book the venue" in client.get(f"/tasks/{task.id}", headers=HTML).text


def test_those_who_may_change_a_task_get_its_edit_delete_and_status_from_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    creator = make_user(db, o.org)
    responsible = make_user(db, o.org)
    task = tasks.create_task(db, actor=creator, title="Renew the insurance", responsible_id=responsible.id)
    db.flush()
    csrf = sign_in(client, db, settings, creator)
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert f'href="/tasks/{task.id}/edit"' in text and f'href="/tasks/{task.id}/delete"' in text
    assert f'action="/tasks/{task.id}/status"' in text
    # The status set on the task's page comes back to it.
    done = post(client, f"/tasks/{task.id}/status", csrf, {"status": "in_progress", "back": "task"})
    assert done.status_code == 200 and str(done.url).endswith(f"/tasks/{task.id}")
    assert "“Renew the insurance” is now in progress." in done.text
    saved = _task(db, o.org.id, task.id)
    assert saved is not None and saved.status == "in_progress"
    # The responsible person may change it, not delete it.
    sign_in(client, db, settings, responsible)
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert f'href="/tasks/{task.id}/edit"' in text and f'href="/tasks/{task.id}/delete"' not in text


def test_a_task_page_is_refused_as_the_api_refuses_the_task(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from tests.factories import auth

    o = make_org(db)
    creator = make_user(db, o.org)
    outsider = make_user(db, o.org)
    task = tasks.create_task(
        db, actor=creator, title="Salary review", responsible_id=creator.id, description="Confidential"
    )
    db.flush()
    api = client.get(f"/api/v1/tasks/{task.id}", headers=auth(db, outsider))
    sign_in(client, db, settings, outsider)
    page = client.get(f"/tasks/{task.id}", headers=HTML)
    # Not found, as for a task that does not exist: nobody learns that it does.
    assert page.status_code == api.status_code == 404
    assert page.status_code == client.get(f"/tasks/{uuid.uuid4()}", headers=HTML).status_code
    assert "Salary review" not in page.text and "Confidential" not in page.text
    sign_in(client, db, settings, creator)
    assert "Confidential" in client.get(f"/tasks/{task.id}", headers=HTML).text


def test_admins_see_who_originally_created_a_task_on_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    employee = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    task = tasks.create_task(
        db, actor=leaver, title="Renew the lease", responsible_id=employee.id, participant_ids=[employee.id]
    )
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert "System User" in text and f'Originally created by <a href="/people/{leaver.id}"' in text
    sign_in(client, db, settings, employee)
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert "System User" in text and "Lee Leaver" not in text


def test_people_who_left_are_shown_on_a_task_page_as_the_organization_says(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    employee = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    task = tasks.create_task(
        db, actor=employee, title="Hand over the keys", responsible_id=employee.id, observer_ids=[leaver.id]
    )
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    sign_in(client, db, settings, employee)
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert "Lee Leaver" in text and f'href="/people/{leaver.id}"' not in text  # marked, not a link
    o.org.show_former_employee_names = False
    db.flush()
    text = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert "Lee Leaver" not in text and "Former employee" in text


# --- People who left, as the organization wants them named ----------------------------------------


def test_the_work_pages_name_people_who_left_as_the_organization_says(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """With "show former employees' names" off, tasks, files, leads and messages name someone who
    left "Former employee" on the pages, as the API and the stream do; on, by their name."""
    from roster.lifecycle.users import dismiss_user
    from roster.messages import service as messages

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lena", last_name="Leaver")
    employee = make_user(db, o.org)
    tasks.create_task(
        db, actor=o.admin, title="Hand over", responsible_id=leaver.id, participant_ids=[employee.id]
    )
    _file(db, settings, leaver, "minutes.txt")
    crm.create_lead(db, actor=o.admin, title="Northwind", responsible_id=leaver.id)
    chat = messages.create_group_chat(db, actor=employee, title="Team", member_ids=[leaver.id])
    messages.send_message(db, chat, actor=leaver, body="Bye, all")
    messages.send_direct_message(db, actor=leaver, to_user_id=employee.id, body="Thanks for everything")
    dismiss_user(db, leaver, actor=o.admin)
    o.org.show_former_employee_names = False
    db.flush()

    sign_in(client, db, settings, employee)
    pages = [
        "/tasks",
        "/drive",
        "/crm",
        "/messages",
        f"/messages/chats/{chat.id}",
        f"/messages/with/{leaver.id}",
    ]
    for path in pages:
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert "Lena" not in page.text and "Leaver" not in page.text, path
        assert "Former employee" in page.text, path

    o.org.show_former_employee_names = True
    db.flush()
    for path in pages:
        assert "Lena Leaver" in client.get(path, headers=HTML).text, path


def test_the_edit_forms_name_people_who_left_as_the_organization_says(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """An edited task or lead keeps someone who left in their place, named as on the task's and
    the lead's own pages: with "show former employees' names" off, "Former employee"."""
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    o.org.show_former_employee_names = False
    employee = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lena", last_name="Leaver")
    task = tasks.create_task(
        db, actor=employee, title="Hand over", responsible_id=employee.id, observer_ids=[leaver.id]
    )
    lead = crm.create_lead(db, actor=employee, title="Northwind", responsible_id=leaver.id)
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    sign_in(client, db, settings, employee)
    for form in (
        client.get(f"/tasks/{task.id}/edit", headers=HTML).text,
        client.get(f"/crm/leads/{lead.id}/edit", headers=HTML).text,
    ):
        assert f'<option value="{leaver.id}" selected>Former employee' in form
        assert "Lena" not in form and "Leaver" not in form


# --- Deadlines --------------------------------------------------------------------------------


def test_a_task_past_its_deadline_shows_as_overdue_and_a_late_deadline_is_pointed_out(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from datetime import timedelta

    from roster import clock

    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    yesterday = (clock.now() - timedelta(days=1)).date()
    made = post(
        client,
        "/tasks",
        csrf,
        {"title": "Send the minutes", "responsible_id": str(o.admin.id), "deadline": yesterday.isoformat()},
    )
    assert made.status_code == 200 and "The task is created." in made.text
    assert f"Its deadline ({yesterday:%d %b %Y}) has passed already, so it shows as overdue." in made.text
    assert '<span class="badge badge-overdue">Overdue</span>' in made.text
    (task,) = db.scalars(select(Task).where(Task.org_id == o.org.id, Task.title == "Send the minutes"))
    assert 'badge-overdue">Overdue' in client.get(f"/tasks/{task.id}", headers=HTML).text

    # Done is no longer overdue.
    post(client, f"/tasks/{task.id}/status", csrf, {"status": "done"})
    assert "badge-overdue" not in client.get("/tasks", headers=HTML).text
    assert "badge-overdue" not in client.get(f"/tasks/{task.id}", headers=HTML).text

    # A date in the future is not remarked on.
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    later = post(
        client, "/tasks", csrf, {"title": "Plan", "responsible_id": str(o.admin.id), "deadline": tomorrow}
    )
    assert "The task is created." in later.text and "has passed already" not in later.text


def test_a_deadline_that_is_not_a_date_is_refused_and_what_was_typed_is_kept(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(
        client,
        "/tasks",
        csrf,
        {"title": "Order chairs", "responsible_id": str(o.admin.id), "deadline": "31/12/2026"},
    )
    assert refused.status_code == 422
    assert "Enter the deadline as a date, such as 2027-03-31." in refused.text
    assert 'value="Order chairs"' in refused.text and 'value="31/12/2026"' in refused.text
    assert db.scalars(select(Task).where(Task.org_id == o.org.id)).first() is None


def test_the_tasks_page_lists_overdue_tasks_only_on_request(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from datetime import timedelta

    from roster import clock

    o = make_org(db)
    tasks.create_task(
        db,
        actor=o.admin,
        title="Late report",
        responsible_id=o.admin.id,
        deadline=clock.now() - timedelta(days=1),
    )
    tasks.create_task(db, actor=o.admin, title="Future plan", responsible_id=o.admin.id)
    db.flush()
    sign_in(client, db, settings, o.admin)
    every = client.get("/tasks", headers=HTML).text
    assert "Late report" in every and "Future plan" in every
    assert 'href="/tasks?role=all&amp;overdue=1">Overdue only</a>' in every
    late = client.get("/tasks?role=responsible&overdue=1", headers=HTML).text
    assert "Late report" in late and "Future plan" not in late
    assert "Showing overdue tasks only" in late and 'href="/tasks?role=responsible">Show all</a>' in late
    # The role tabs keep the filter.
    assert 'href="/tasks?role=creator&amp;overdue=1"' in late
    tasks.update_task(
        db,
        db.scalars(select(Task).where(Task.title == "Late report")).one(),
        actor=o.admin,
        status=tasks.TaskStatus.DONE,
    )
    db.flush()
    assert "Nothing overdue" in client.get("/tasks?overdue=1", headers=HTML).text


def test_the_task_list_works_with_people_other_than_the_responsible_one_and_the_system_user(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user, transfer_references

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    mei = make_user(db, o.org, first_name="Mei", last_name="Chen")
    gone = make_user(db, o.org, first_name="Gus", last_name="Gone")
    pat = make_user(db, o.org, first_name="Pat", last_name="Partner")
    task = tasks.create_task(
        db,
        actor=o.admin,
        title="Migrate invoices",
        responsible_id=leaver.id,
        participant_ids=[mei.id, gone.id, pat.id],
    )
    transfer_references(db, leaver, to=mei, actor=o.admin, kinds=["tasks.task.responsible"])
    delete_user(db, gone, actor=o.admin, confirm=gone.email)  # their participation goes to the System User
    db.flush()
    sign_in(client, db, settings, o.admin)
    listing = client.get("/tasks?role=everyone", headers=HTML).text
    row = listing[listing.index(f'<a href="/tasks/{task.id}">') :]
    row = row[: row.index("</tr>")]
    assert "with Pat Partner</span>" in row
    assert "Mei Chen" in row and "with Mei Chen" not in row and "System User" not in row
    # The task's own page still lists every participant.
    page = client.get(f"/tasks/{task.id}", headers=HTML).text
    assert "System User" in page and page.count("Mei Chen") >= 2
