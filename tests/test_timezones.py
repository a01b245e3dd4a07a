"""Time zones: the organization's and each person's. Pages show times in the viewer's zone and
read typed dates in it; the database and the API keep UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster.accounts.models import Organization, User
from roster.domain import errors, timezones
from roster.settings import Settings
from roster.stream.models import Post
from roster.tasks.models import Task
from tests.factories import auth, make_org, make_user
from tests.lifecycle_helpers import events
from tests.test_web import HTML, post, sign_in

API = "/api/v1"
NOON_UTC = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_zone_names_are_checked_and_written_as_the_database_writes_them() -> None:
    assert timezones.check_timezone("europe/berlin") == "Europe/Berlin"
    assert timezones.check_timezone(" UTC ") == "UTC"
    for wrong in ("Mars/Olympus_Mons", "", "Europe/" + "x" * 100, "+01:00"):
        with pytest.raises(errors.ValidationFailed) as refused:
            timezones.check_timezone(wrong)
        assert refused.value.extra["field"] == "timezone"
    assert "Europe/Berlin" in timezones.choices() and "US/Eastern" not in timezones.choices()
    assert timezones.zone(None) is UTC and timezones.zone("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")


def test_a_typed_day_is_read_in_the_zone_of_the_person_typing_it() -> None:
    tokyo = timezones.zone("Asia/Tokyo")
    assert timezones.local_day("2027-03-31", tokyo, at=time(17, 0)) == datetime(2027, 3, 31, 8, 0, tzinfo=UTC)
    assert timezones.local_day("2027-03-31", UTC) == datetime(2027, 3, 31, tzinfo=UTC)
    # Summer time: New York is UTC-4 in July, UTC-5 in January.
    new_york = timezones.zone("America/New_York")
    assert timezones.local_day("2027-07-01", new_york) == datetime(2027, 7, 1, 4, 0, tzinfo=UTC)
    assert timezones.local_day("2027-01-01", new_york) == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert timezones.local_day("31/03/2027", tokyo) is None
    # Days at the ends of the calendar that UTC cannot hold there.
    assert timezones.local_day("9999-12-31", new_york, at=time.max) is None
    assert timezones.local_day("0001-01-01", tokyo) is None


def test_an_admin_sets_the_organizations_zone_and_a_wrong_one_changes_nothing(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    assert client.get(f"{API}/organization/settings", headers=admin).json()["timezone"] == "UTC"
    answer = client.patch(f"{API}/organization/settings", json={"timezone": "asia/tokyo"}, headers=admin)
    assert answer.status_code == 200 and answer.json()["timezone"] == "Asia/Tokyo"
    event = events(db, o.org.id, "settings.changed")[-1]
    assert event.details == {"timezone": {"old": "UTC", "new": "Asia/Tokyo"}}
    refused = client.patch(
        f"{API}/organization/settings",
        json={"timezone": "Moon/Base", "restore_window_days": 7},
        headers=admin,
    )
    assert refused.status_code == 422
    assert (refused.json()["code"], refused.json()["field"]) == ("validation_failed", "timezone")
    db.expire_all()
    org = db.get(Organization, o.org.id)
    assert org is not None and (org.timezone, org.restore_window_days) == ("Asia/Tokyo", 30)
    employee = auth(db, make_user(db, o.org))
    assert (
        client.patch(f"{API}/organization/settings", json={"timezone": "UTC"}, headers=employee).status_code
        == 403
    )


def test_a_person_chooses_their_own_zone_or_goes_back_to_the_organizations(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    me = auth(db, erin)
    chosen = client.patch(f"{API}/users/{erin.id}", json={"timezone": "America/New_York"}, headers=me)
    assert chosen.status_code == 200 and chosen.json()["timezone"] == "America/New_York"
    assert client.get(f"{API}/me", headers=me).json()["timezone"] == "America/New_York"
    refused = client.patch(f"{API}/users/{erin.id}", json={"timezone": "New York"}, headers=me)
    assert (refused.status_code, refused.json()["field"]) == (422, "timezone")
    back = client.patch(f"{API}/users/{erin.id}", json={"timezone": None}, headers=me)
    assert back.status_code == 200 and back.json()["timezone"] is None
    other = make_user(db, o.org)
    assert client.patch(f"{API}/users/{other.id}", json={"timezone": "UTC"}, headers=me).status_code == 403


def _post_at_noon_utc(client: TestClient, db: Session, user: User) -> None:
    made = client.post(f"{API}/posts", json={"body": "Standup notes"}, headers=auth(db, user))
    assert made.status_code == 201
    db.execute(update(Post).where(Post.org_id == user.org_id).values(created_at=NOON_UTC))
    db.flush()


def _shown_time(page: str) -> str:
    found = re.search(r'<time datetime="2026-01-15T12:00:00\+00:00" title="([^"]+)"', page)
    assert found, page[:2000]
    return found.group(1)


def test_pages_show_times_in_the_viewers_zone(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    _post_at_noon_utc(client, db, erin)
    sign_in(client, db, settings, erin)
    assert _shown_time(client.get("/stream", headers=HTML).text) == "15 Jan 2026, 12:00"
    o.org.timezone = "Asia/Tokyo"  # the organization's, for everyone who chose none
    db.flush()
    assert _shown_time(client.get("/stream", headers=HTML).text) == "15 Jan 2026, 21:00"
    erin.timezone = "America/New_York"  # their own wins
    db.flush()
    assert _shown_time(client.get("/stream", headers=HTML).text) == "15 Jan 2026, 07:00"
    # The API keeps UTC.
    listed = client.get(f"{API}/stream", headers=auth(db, erin)).json()["items"][0]
    assert listed["created_at"].startswith("2026-01-15T12:00:00")


def test_a_person_sets_their_zone_on_my_profile_and_a_colleague_sees_their_local_time(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    o.org.timezone = "Europe/Berlin"
    erin = make_user(db, o.org)
    db.flush()
    csrf = sign_in(client, db, settings, erin)
    page = client.get("/profile", headers=HTML).text
    assert '<option value="organization" selected>The organization&#39;s: Europe/Berlin</option>' in page
    assert '<option value="Asia/Tokyo" >Asia/Tokyo (UTC+09:00)</option>' in page
    fields = {"first_name": erin.first_name, "last_name": erin.last_name, "display_name": erin.display_name}
    saved = post(client, "/profile", csrf, {**fields, "timezone": "Asia/Tokyo"})
    assert saved.status_code == 200 and "Your profile is saved." in saved.text
    db.refresh(erin)
    assert erin.timezone == "Asia/Tokyo"
    assert '<option value="Asia/Tokyo" selected>' in client.get("/profile", headers=HTML).text
    refused = post(client, "/profile", csrf, {**fields, "timezone": "Atlantis/Capital"})
    assert refused.status_code == 422 and "is not a time zone" in refused.text
    assert post(client, "/profile", csrf, fields).status_code == 200  # a form without the field keeps it
    db.refresh(erin)
    assert erin.timezone == "Asia/Tokyo"
    # A colleague sees the time it is where Erin is.
    sign_in(client, db, settings, make_user(db, o.org))
    card = client.get(f"/people/{erin.id}", headers=HTML).text
    assert "<dt>Local time</dt>" in card and "Asia/Tokyo" in card


def test_going_back_to_the_organizations_zone_from_my_profile(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    erin.timezone = "Asia/Tokyo"
    db.flush()
    csrf = sign_in(client, db, settings, erin)
    fields = {"first_name": erin.first_name, "last_name": erin.last_name, "display_name": erin.display_name}
    assert post(client, "/profile", csrf, {**fields, "timezone": "organization"}).status_code == 200
    db.refresh(erin)
    assert erin.timezone is None


def test_a_deadline_typed_in_tokyo_is_that_day_in_tokyo(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    o.admin.timezone = "Asia/Tokyo"
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    made = post(
        client,
        "/tasks",
        csrf,
        {"title": "File the report", "responsible_id": str(o.admin.id), "deadline": "2027-03-31"},
    )
    assert made.status_code == 200 and "The task is created." in made.text
    task = db.scalars(select(Task).where(Task.org_id == o.org.id, Task.title == "File the report")).one()
    assert task.deadline == datetime(2027, 3, 31, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo
    edit = client.get(f"/tasks/{task.id}/edit", headers=HTML).text
    assert 'value="2027-03-31"' in edit


def test_the_audit_logs_days_are_the_viewers_days(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    o.admin.timezone = "Asia/Tokyo"
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get(
        "/admin/audit", params={"since": "2026-03-01", "until": "2026-03-01"}, headers=HTML
    ).text
    # The day in Tokyo runs from 15:00 UTC the day before to 14:59:59 UTC.
    assert "since=2026-02-28T15%3A00%3A00%2B00%3A00" in page
    assert "until=2026-03-01T14%3A59%3A59.999999%2B00%3A00" in page


def test_the_settings_page_sets_the_organizations_zone(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    page = client.get("/admin/settings", headers=HTML).text
    assert '<option value="UTC" selected>UTC (UTC+00:00)</option>' in page
    form = {
        "restore_window_days": "30",
        "employees_may_change_photo": "on",
        "show_former_employee_names": "on",
    }
    saved = post(client, "/admin/settings", csrf, {**form, "timezone": "Europe/Lisbon"})
    assert saved.status_code == 200 and "Settings saved." in saved.text
    db.refresh(o.org)
    assert o.org.timezone == "Europe/Lisbon"
    refused = post(client, "/admin/settings", csrf, {**form, "timezone": "Lisbon"})
    assert refused.status_code == 422 and "is not a time zone" in refused.text
    db.refresh(o.org)
    assert o.org.timezone == "Europe/Lisbon"
