"""Tasks and CRM leads in the pages: the admins' notes of who originally created a task."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster.settings import Settings
from roster.tasks import service as tasks
from tests.factories import make_org, make_user
from tests.test_web import HTML, sign_in

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
    assert "by System User" in page and "Originally created by Lee Leaver" in page
    sign_in(client, db, settings, employee)
    page = client.get("/tasks", headers=HTML).text
    assert "Renew the lease" in page and "by System User" in page and "Lee Leaver" not in page
