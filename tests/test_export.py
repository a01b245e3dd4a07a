"""Downloading a person's data (GDPR access and portability): everything that points at them, read
through the registry of user columns, with no secrets; for the person, or an admin."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.app import create_app
from roster.db.engine import make_engine, make_sessionmaker, transaction
from roster.lifecycle import deletion, export_api
from roster.lifecycle.export import export_personal_data
from roster.references import Handling, all_references
from roster.settings import Settings
from roster.stream.service import create_post
from tests.dbutil import DatabaseFactory
from tests.deletion_support import make_busy, references_to
from tests.factories import PASSWORD, OrgWithAdmin, auth, make_org, make_user
from tests.lifecycle_helpers import events
from tests.test_photos import _put, image_bytes
from tests.test_web import HTML, sign_in

API = "/api/v1"


def _team(db: Session) -> tuple[OrgWithAdmin, User, User, User]:
    o = make_org(db, plan="enterprise")
    busy = make_user(db, o.org, email="erin.busy@example.test", first_name="Érin", last_name="Busy")
    return o, busy, make_user(db, o.org), make_user(db, o.org)


def _download(client: TestClient, path: str, headers: dict[str, str]) -> zipfile.ZipFile:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["cache-control"] == "private, no-store"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    return archive


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name))


def test_a_person_downloads_everything_that_points_at_them_and_no_secret(
    client: TestClient, db: Session
) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    me = auth(db, busy)
    assert _put(client, me, busy, image_bytes("PNG")).status_code == 200
    session_secret = me["Authorization"].split()[-1]
    expected = references_to(db, busy)  # per content kind, hidden rows included

    answer = client.get(f"{API}/me/export", headers=me)
    assert 'filename="roster-data-erin-busy-' in answer.headers["content-disposition"]
    archive = _download(client, f"{API}/me/export", me)
    assert all(entry.date_time[0] >= 2020 for entry in archive.infolist())  # dated when made

    person = _json(archive, "person.json")
    assert person["account"]["email"] == "erin.busy@example.test"
    assert person["account"]["display_name"] == "Érin Busy"
    assert person["organization"]["slug"] == o.org.slug
    assert person["departments"], "make_busy places them in a department"
    # Every registered kind but the credentials has its file, with exactly the rows that point at them.
    for ref in all_references():
        name = f"records/{ref.kind}.json"
        if ref.handling is Handling.CREDENTIAL:
            assert name not in archive.namelist()
            continue
        document = _json(archive, name)
        assert (document["kind"], document["label"]) == (ref.kind, ref.label)
        assert all(row[ref.column] == str(busy.id) for row in document["rows"] if ref.table != "users")
        if ref.handling is Handling.CONTENT:
            assert len(document["rows"]) == expected.get(ref.kind, 0), ref.kind
    posts = _json(archive, "records/stream.post.author.json")["rows"]
    assert {p["body"] for p in posts} >= {"Post 0"}
    # The drive files' content, and the photo.
    files = [n for n in archive.namelist() if n.startswith("files/")]
    assert files and all(archive.read(n) == b"some notes" for n in files)
    (photo,) = [n for n in archive.namelist() if n.startswith("photo.")]
    assert Image.open(io.BytesIO(archive.read(photo))).size == (256, 256)
    # No secret anywhere: not the password's hash, not a token's, not the session itself.
    everything = b"".join(archive.read(n) for n in archive.namelist())
    for secret in (b"argon2", b"password_hash", b"token_hash", session_secret.encode(), PASSWORD.encode()):
        assert secret not in everything
    # Of other people (the reports of a manager), only who they are.
    readme = archive.read("README.txt").decode()
    assert "records/<kind>.json" in readme and "Not included" in readme
    event = events(db, o.org.id, "user.data_exported")[-1]
    assert (event.actor_id, event.subject_id) == (busy.id, busy.id)
    assert event.details["rows"] == sum(
        len(_json(archive, n)["rows"]) for n in archive.namelist() if n.startswith("records/")
    )


def test_an_admin_downloads_a_deleted_persons_data_with_what_was_moved_from_them(
    client: TestClient, db: Session
) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    deleted = deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)
    db.flush()

    archive = _download(client, f"{API}/users/{busy.id}/export", auth(db, o.admin))

    assert _json(archive, "person.json")["account"]["status"] == "deleted"
    system = accounts.get_system_user(db, o.org.id)
    for kind, n in deleted.moved.items():
        document = _json(archive, f"moved/{kind}.json")
        assert len(document["rows"]) == n, kind
        assert all(entry["moved_to_id"] == str(system.id) for entry in document["rows"])
    posts = _json(archive, "moved/stream.post.author.json")["rows"]
    assert {"Post 0"} <= {entry["row"]["body"] for entry in posts}
    assert all(entry["row"]["author_id"] == str(system.id) for entry in posts)
    # The files they uploaded went to the System User, and their content is still theirs to take.
    assert [n for n in archive.namelist() if n.startswith("files/")]
    event = events(db, o.org.id, "user.data_exported")[-1]
    assert (event.actor_id, event.subject_id) == (o.admin.id, busy.id)


def test_after_a_restore_nothing_is_listed_as_moved(client: TestClient, db: Session) -> None:
    o, busy, colleague, other = _team(db)
    make_busy(client, db, busy, [colleague, other])
    deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)
    deletion.restore_user(db, busy, actor=o.admin)
    db.flush()
    archive = _download(client, f"{API}/users/{busy.id}/export", auth(db, o.admin))
    assert not [n for n in archive.namelist() if n.startswith("moved/")]
    assert _json(archive, "records/stream.post.author.json")["rows"]


def test_only_admins_export_others_and_only_in_their_organization(client: TestClient, db: Session) -> None:
    o, busy, colleague, _ = _team(db)
    elsewhere = make_org(db)
    before = len(events(db, o.org.id, "user.data_exported"))
    refused = [
        (client.get(f"{API}/users/{busy.id}/export", headers=auth(db, colleague)), 403),
        (client.get(f"{API}/users/{busy.id}/export", headers=auth(db, elsewhere.admin)), 404),
        (client.get(f"{API}/users/{busy.id}/export"), 401),
        (client.get(f"{API}/me/export"), 401),
        (
            client.get(
                f"{API}/users/{accounts.get_system_user(db, o.org.id).id}/export", headers=auth(db, o.admin)
            ),
            409,
        ),
    ]
    for answer, status in refused:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert refused[-1][0].json()["code"] == "system_user_immutable"
    assert len(events(db, o.org.id, "user.data_exported")) == before


def test_head_answers_the_headers_and_records_nothing(client: TestClient, db: Session) -> None:
    o, busy, _, _ = _team(db)
    answer = client.head(f"{API}/users/{busy.id}/export", headers=auth(db, o.admin))
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["content-type"] == "application/zip"
    assert not events(db, o.org.id, "user.data_exported")


def test_the_pages_offer_the_download_to_the_person_and_to_admins_only(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, busy, colleague, _ = _team(db)
    sign_in(client, db, settings, busy)
    profile = client.get("/profile", headers=HTML).text
    assert 'href="/api/v1/me/export"' in profile and "Download my data" in profile
    assert _download(client, f"{API}/me/export", {}).namelist()  # the browser's session is enough
    assert (
        f'href="/api/v1/users/{colleague.id}/export"'
        not in client.get(f"/people/{colleague.id}", headers=HTML).text
    )
    sign_in(client, db, settings, o.admin)
    card = client.get(f"/people/{busy.id}", headers=HTML).text
    assert f'href="/api/v1/users/{busy.id}/export"' in card and "Download their data" in card
    erase = client.get(f"/people/{busy.id}/erase", headers=HTML).text
    assert f'href="/api/v1/users/{busy.id}/export"' in erase


def test_the_download_reads_one_snapshot_while_others_write(
    databases: DatabaseFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post committed while the download is being read is not half in it: every statement of the
    download reads the database as it was at its first (on PostgreSQL too, whose default gives
    each statement its own snapshot). Real connections, not the test's shared one."""
    engine = make_engine(databases.new_database())
    factory = make_sessionmaker(engine)
    with transaction(factory) as setup:
        o = make_org(setup, plan="enterprise")
        busy = make_user(setup, o.org, email="erin.busy@example.test")
        create_post(setup, actor=busy, body="Written before")
        me, busy_id, org_id = auth(setup, busy), busy.id, o.org.id

    def write_meanwhile(read: Session, user: User, **kwargs: Any) -> Any:
        # The download has read the person; now someone else commits a post of theirs.
        with transaction(factory) as other:
            create_post(other, actor=accounts.get_user(other, org_id, busy_id), body="Written meanwhile")
        return export_personal_data(read, user, **kwargs)

    monkeypatch.setattr(export_api, "export_personal_data", write_meanwhile)
    try:
        with TestClient(create_app(settings, bind=engine), raise_server_exceptions=False) as client:
            archive = _download(client, f"{API}/me/export", me)
    finally:
        engine.dispose()
    posts = {p["body"] for p in _json(archive, "records/stream.post.author.json")["rows"]}
    assert posts == {"Written before"}


def test_a_successors_download_does_not_name_whose_work_they_took_over(
    client: TestClient, db: Session
) -> None:
    """Who originally had what is the admins' record: the successor's own download says what was
    handed to them and when, not from whom."""
    from roster.lifecycle.deletion import Disposition, DispositionPlan
    from roster.tasks import service as tasks

    o, leaver, successor, _other = _team(db)
    tasks.create_task(db, actor=leaver, title="Close the quarter", responsible_id=leaver.id)
    deletion.delete_user(
        db,
        leaver,
        actor=o.admin,
        confirm=leaver.email,
        disposition=DispositionPlan(default=Disposition.SUCCESSOR, successor_id=successor.id),
    )
    db.flush()

    archive = _download(client, f"{API}/me/export", auth(db, successor))

    handed = _json(archive, "records/lifecycle.authorship.moved_to.json")["rows"]
    assert handed and all(entry["moved_to_id"] == str(successor.id) for entry in handed)
    assert {entry["kind"] for entry in handed} >= {"tasks.task.responsible", "tasks.task.creator"}
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert "Érin".encode() not in everything and str(leaver.id).encode() not in everything
