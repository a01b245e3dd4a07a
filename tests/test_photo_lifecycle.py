"""A person's photo stays with their account through delete and restore, and is destroyed when the
restore window ends or at erasure."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.directory.models import UserPhoto
from roster.lifecycle.deletion import purge_expired
from tests.factories import auth, make_org, make_user
from tests.test_photos import _put, image_bytes

API = "/api/v1"


def photos_of(db: Session, user: User) -> int:
    db.flush()
    return int(
        db.scalar(select(func.count()).select_from(UserPhoto).where(UserPhoto.user_id == user.id)) or 0
    )


def test_a_restored_person_gets_their_photo_back(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org)
    assert _put(client, admin, erin, image_bytes("PNG")).status_code == 200
    deleted = client.post(f"{API}/users/{erin.id}/delete", json={"confirm": erin.email}, headers=admin)
    assert deleted.status_code == 200, deleted.text
    assert photos_of(db, erin) == 1
    restored = client.post(f"{API}/users/{erin.id}/restore", headers=admin)
    assert restored.status_code == 200, restored.text
    assert restored.json()["photo_url"].endswith("&v=1")
    served = client.get(f"{API}/users/{erin.id}/photo?size=64", headers=admin)
    assert served.status_code == 200 and served.headers["content-type"] != "image/svg+xml"


def test_the_purge_destroys_the_photo_with_the_rest_of_the_personal_data(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org)
    assert _put(client, admin, erin, image_bytes("JPEG")).status_code == 200
    assert (
        client.post(f"{API}/users/{erin.id}/delete", json={"confirm": erin.email}, headers=admin).status_code
        == 200
    )
    clock.advance(timedelta(days=31))
    db.expire_all()  # the deletion ran in the request's session; read what it committed
    assert purge_expired(db) == 1
    assert photos_of(db, erin) == 0
    db.refresh(erin)
    assert erin.photo_version is None and erin.email is None


def test_erasure_destroys_the_photo_at_once(client: TestClient, db: Session) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin = make_user(db, o.org)
    assert _put(client, admin, erin, image_bytes("PNG")).status_code == 200
    erased = client.post(f"{API}/users/{erin.id}/erase", json={"confirm": erin.email}, headers=admin)
    assert erased.status_code == 200, erased.text
    assert photos_of(db, erin) == 0


def test_a_deleted_or_erased_persons_profile_and_photo_cannot_be_changed(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    admin = auth(db, o.admin)
    erin, finn = make_user(db, o.org, first_name="Erin"), make_user(db, o.org, first_name="Finn")
    deleted = client.post(f"{API}/users/{erin.id}/delete", json={"confirm": erin.email}, headers=admin)
    assert deleted.status_code == 200, deleted.text
    erased = client.post(f"{API}/users/{finn.id}/erase", json={"confirm": finn.email}, headers=admin)
    assert erased.status_code == 200, erased.text
    for person, name in [(erin, deleted.json()["user"]["display_name"]), (finn, "Former employee 1")]:
        for answer in [
            client.patch(
                f"{API}/users/{person.id}", json={"first_name": "Real", "last_name": "Name"}, headers=admin
            ),
            client.patch(f"{API}/users/{person.id}", json={"role": "admin"}, headers=admin),
            _put(client, admin, person, image_bytes("PNG")),
            client.delete(f"{API}/users/{person.id}/photo", headers=admin),
        ]:
            assert answer.status_code == 409, answer.text
            assert answer.json()["code"] == "invalid_transition"
        shown = client.get(f"{API}/users/{person.id}", headers=admin).json()
        assert (shown["display_name"], shown["role"], shown["photo_url"]) == (
            name,
            "employee",
            f"/api/v1/users/{person.id}/photo?size=256",
        )
        assert photos_of(db, person) == 0
    # Restored (as dismissed), the person's profile can be changed again.
    assert client.post(f"{API}/users/{erin.id}/restore", headers=admin).status_code == 200
    changed = client.patch(f"{API}/users/{erin.id}", json={"position": "Back"}, headers=admin)
    assert changed.status_code == 200, changed.text
