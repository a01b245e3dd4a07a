"""Drive through the API: uploads streamed under a size limit, safe names, downloads with the right
headers, content-addressed blobs that outlive no reference, and who may do what."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.app import create_app
from roster.db.engine import make_sessionmaker
from roster.drive import service
from roster.drive.models import DriveFile
from roster.drive.storage import DiskStorage, get_storage, readable_size
from roster.settings import Settings
from tests.conftest import make_settings
from tests.factories import auth, make_org, make_user

API = "/api/v1"
BOUNDARY = "roster-test-boundary"


def _raw_upload(
    filename: bytes, content: bytes, content_type: bytes = b"text/plain"
) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte for byte, so tests control exactly what the name holds."""
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: '
        + content_type
        + b"\r\n\r\n"
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _upload(
    client: TestClient, headers: dict[str, str], name: str, content: bytes, ctype: str = "text/plain"
) -> Any:
    return client.post(f"{API}/files", files={"file": (name, content, ctype)}, headers=headers)


def _blobs(settings: Settings, org_id: uuid.UUID) -> list[str]:
    return sorted(get_storage(settings, org_id).hashes())


def _leftovers(settings: Settings) -> list[Path]:
    """Every file under the files directory (blobs and staging)."""
    root = settings.files_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _rows(db: Session) -> int:
    """Files not hidden (deleted ones are in the trash: tests/test_trash.py)."""
    return db.scalar(select(func.count()).select_from(DriveFile).where(DriveFile.hidden_by.is_(None))) or 0


def _empty_trash(client: TestClient, headers: dict[str, str]) -> None:
    """An admin removes everything in the trash for good now."""
    for item in client.get(f"{API}/trash", headers=headers).json()["items"]:
        assert client.delete(f"{API}/trash/{item['id']}", headers=headers).status_code == 204


@pytest.fixture
def small_client(tmp_path: Path, connection: Connection) -> Iterator[tuple[TestClient, Settings]]:
    """An app whose upload limit is 16 bytes."""
    settings = make_settings(tmp_path / "small", max_upload_bytes=16)
    with TestClient(create_app(settings, bind=connection), raise_server_exceptions=False) as client:
        yield client, settings


def test_an_upload_is_stored_under_its_hash_and_described(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    me = make_user(db, o.org, first_name="Uma")
    content = b"name,amount\nAcme,1200\n"

    answer = _upload(client, auth(db, me), "Q3 figures.csv", content, "text/csv")

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["name"] == "Q3 figures.csv"
    assert body["size"] == len(content)
    assert body["content_type"] == "text/csv"
    assert body["owner"]["id"] == str(me.id) and body["uploaded_by"]["id"] == str(me.id)
    assert body["owner"]["display_name"] == me.display_name
    digest = hashlib.sha256(content).hexdigest()
    assert body["sha256"] == digest
    assert _blobs(settings, o.org.id) == [digest]
    stored = _leftovers(settings)
    assert [p.name for p in stored] == [digest]  # the client's name never reaches the disk
    assert stored[0].read_bytes() == content
    download = client.get(f"{API}/files/{body['id']}/content", headers=auth(db, me))
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert download.headers["etag"] == f'"{digest}"'
    assert client.get(f"{API}/files/{body['id']}", headers=auth(db, o.admin)).json() == body
    # A client holding those bytes asks again with their tag, and is told nothing changed.
    for held in (f'"{digest}"', f'W/"{digest}"', f'"other", "{digest}"', "*"):
        again = client.get(
            f"{API}/files/{body['id']}/content", headers={**auth(db, me), "If-None-Match": held}
        )
        assert again.status_code == 304 and again.content == b"", held
        assert again.headers["etag"] == f'"{digest}"'
    stale = client.get(
        f"{API}/files/{body['id']}/content", headers={**auth(db, me), "If-None-Match": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == content
    # Whoever may not see the file still gets 404, tag or no tag.
    stranger = auth(db, make_org(db).admin)
    refused = client.get(
        f"{API}/files/{body['id']}/content", headers={**stranger, "If-None-Match": f'"{digest}"'}
    )
    assert refused.status_code == 404


def test_a_download_carries_safe_headers_and_the_exact_bytes(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    content = b"<html><script>alert(1)</script></html>"
    raw, multipart = _raw_upload(
        'Résumé \\"final\\"; 2026 ✓.html'.encode(), content, content_type=b"text/html; charset=utf-8"
    )
    file = client.post(f"{API}/files", content=raw, headers={**multipart, **headers}).json()
    assert file["name"] == 'Résumé "final"; 2026 ✓.html'
    assert file["content_type"] == "text/html"

    answer = client.get(f"{API}/files/{file['id']}/content", headers=auth(db, make_user(db, o.org)))

    assert answer.status_code == 200
    assert answer.content == content
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert 'filename="Resume _final__ 2026 .html"' in disposition
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%3B%202026%20%E2%9C%93.html" in disposition
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-content-type-options"] == "nosniff"
    # An HTML file is served sandboxed: the pages' own policy must not replace the stricter one.
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert answer.headers["content-length"] == str(len(content))


def test_a_badly_formed_content_type_is_stored_as_octet_stream(client: TestClient, db: Session) -> None:
    o = make_org(db)
    body, headers = _raw_upload(b"data.bin", b"1234", content_type=b"text/html<script>")
    answer = client.post(f"{API}/files", content=body, headers={**headers, **auth(db, o.admin)})
    assert answer.status_code == 201, answer.text
    assert answer.json()["content_type"] == "application/octet-stream"


def test_an_oversized_upload_is_refused_while_streaming_and_leaves_nothing(
    small_client: tuple[TestClient, Settings], db: Session
) -> None:
    client, settings = small_client
    o = make_org(db)
    headers = auth(db, o.admin)

    exact = _upload(client, headers, "ok.txt", b"x" * 16)
    assert exact.status_code == 201, exact.text
    before = _leftovers(settings)

    body, multipart = _raw_upload(b"big.txt", b"y" * 17)
    # Chunked (no Content-Length), so only the streaming check can catch it.
    answer = client.post(
        f"{API}/files", content=iter([body[:50], body[50:]]), headers={**multipart, **headers}
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "too_large"
    assert answer.json()["limit"] == 16
    assert _rows(db) == 1
    assert _leftovers(settings) == before


def test_the_size_limit_is_told_in_units_people_read(
    tmp_path: Path, connection: Connection, db: Session
) -> None:
    # Before, the refusal said "the limit of 104857600 bytes" (and 102400 for this app).
    settings = make_settings(tmp_path / "kb", max_upload_bytes=100 * 1024)
    with TestClient(create_app(settings, bind=connection), raise_server_exceptions=False) as client:
        o = make_org(db)
        headers = auth(db, o.admin)
        declared = _upload(client, headers, "big.bin", b"z" * 200_000)
        body, multipart = _raw_upload(b"big.bin", b"y" * 110_000)
        streamed = client.post(
            f"{API}/files", content=iter([body[:50], body[50:]]), headers={**multipart, **headers}
        )
    for answer in (declared, streamed):
        assert answer.status_code == 413 and answer.json()["limit"] == 100 * 1024
        assert answer.json()["detail"] == "The file is larger than the limit of 100 KB."
    assert _rows(db) == 0
    assert readable_size(100 * 1024 * 1024) == "100 MB"
    assert readable_size(1536) == "1.5 KB"
    assert readable_size(16) == "16 bytes"


def test_an_upload_declared_far_over_the_limit_is_refused_before_reading(
    small_client: tuple[TestClient, Settings], db: Session
) -> None:
    client, settings = small_client
    o = make_org(db)
    answer = _upload(client, auth(db, o.admin), "huge.bin", b"z" * 200_000)
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert _rows(db) == 0
    assert _leftovers(settings) == []


def test_an_empty_upload_is_refused_and_leaves_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    answer = _upload(client, auth(db, o.admin), "empty.txt", b"")
    assert answer.status_code == 422
    assert answer.json()["code"] == "empty_file"
    assert _rows(db) == 0
    assert _leftovers(settings) == []


@pytest.mark.parametrize(
    "filename",
    [
        b"../../etc/passwd",
        b"reports/q3.csv",
        b"..\\..\\boot.ini",
        b"..",
        b"   ",
        b"bell\x07.txt",
        b"tab\x09name.txt",
        b"nul\x00.txt",
        "invoice\u202etxt.exe".encode(),
        b"\xff\xfe.txt",
        b"a" * 256,
    ],
)
def test_a_file_name_with_path_separators_or_control_characters_is_refused(
    client: TestClient, db: Session, settings: Settings, filename: bytes
) -> None:
    o = make_org(db)
    body, headers = _raw_upload(filename, b"content")
    answer = client.post(f"{API}/files", content=body, headers={**headers, **auth(db, o.admin)})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_file_name"
    assert _rows(db) == 0
    assert _leftovers(settings) == []


def test_a_windows_path_from_an_old_browser_keeps_only_the_base_name(client: TestClient, db: Session) -> None:
    o = make_org(db)
    body, headers = _raw_upload(b"C:\\fakepath\\report.txt", b"content")
    answer = client.post(f"{API}/files", content=body, headers={**headers, **auth(db, o.admin)})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "report.txt"


def test_names_in_any_script_are_kept(client: TestClient, db: Session) -> None:
    o = make_org(db)
    for name in ("Отчёт за март.docx", "報告書.pdf", "ðe ünïcødé 🎉.txt"):
        body, headers = _raw_upload(name.encode(), b"content")
        answer = client.post(f"{API}/files", content=body, headers={**headers, **auth(db, o.admin)})
        assert answer.status_code == 201, answer.text
        assert answer.json()["name"] == name


def test_an_upload_without_a_file_part_or_not_multipart_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    answer = client.post(
        f"{API}/files", data={"note": "no file"}, files={"other": ("a.txt", b"x")}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["field"] == "file"
    answer = client.post(f"{API}/files", json={"file": "x"}, headers=headers)
    assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
    broken = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'
    answer = client.post(
        f"{API}/files",
        content=broken.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers},
    )
    assert answer.status_code == 422
    assert _rows(db) == 0


def test_everyone_in_the_organization_sees_the_drive_newest_first_and_paged(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    alice, bob = make_user(db, o.org), make_user(db, o.org)
    ids = []
    for i in range(3):
        ids.append(_upload(client, auth(db, alice), f"alice-{i}.txt", f"a{i}".encode()).json()["id"])
    ids.append(_upload(client, auth(db, bob), "bob.txt", b"b").json()["id"])

    listed = client.get(f"{API}/files?per_page=3", headers=auth(db, bob)).json()
    assert listed["total"] == 4
    assert [f["id"] for f in listed["items"]] == list(reversed(ids))[:3]
    second = client.get(f"{API}/files?per_page=3&page=2", headers=auth(db, bob)).json()
    assert [f["id"] for f in second["items"]] == [ids[0]]
    by_alice = client.get(f"{API}/files?owner_id={alice.id}", headers=auth(db, bob)).json()
    assert by_alice["total"] == 3


def test_another_organizations_files_do_not_exist(client: TestClient, db: Session) -> None:
    o, other = make_org(db), make_org(db)
    file = _upload(client, auth(db, o.admin), "ours.txt", b"secret").json()
    headers = auth(db, other.admin)
    for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        answer = client.request(method, f"{API}/files/{file['id']}{suffix}", headers=headers)
        assert answer.status_code == 404, f"{method} {suffix}: {answer.text}"
        assert b"secret" not in answer.content
    assert client.get(f"{API}/files", headers=headers).json() == {"items": [], "total": 0}
    assert _rows(db) == 1


def test_only_the_owner_or_an_admin_deletes_a_file(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner, colleague = make_user(db, o.org), make_user(db, o.org)
    first = _upload(client, auth(db, owner), "one.txt", b"first").json()
    second = _upload(client, auth(db, owner), "two.txt", b"second").json()

    refused = client.delete(f"{API}/files/{first['id']}", headers=auth(db, colleague))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.delete(f"{API}/files/{first['id']}", headers=auth(db, owner)).status_code == 204
    assert client.delete(f"{API}/files/{second['id']}", headers=auth(db, o.admin)).status_code == 204
    assert client.get(f"{API}/files/{first['id']}", headers=auth(db, owner)).status_code == 404
    assert _rows(db) == 0
    # In the trash, so their content is kept for a restore.
    assert sorted(_blobs(settings, o.org.id)) == sorted([first["sha256"], second["sha256"]])


def test_identical_content_shares_one_blob_until_no_file_names_it(
    client: TestClient, db: Session, settings: Settings, connection: Connection
) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    a = _upload(client, headers, "a.txt", b"same bytes").json()
    b = _upload(client, headers, "b.txt", b"same bytes").json()
    assert a["sha256"] == b["sha256"]
    assert _blobs(settings, o.org.id) == [a["sha256"]]

    assert client.delete(f"{API}/files/{a['id']}", headers=headers).status_code == 204
    assert _blobs(settings, o.org.id) == [a["sha256"]]
    assert client.get(f"{API}/files/{b['id']}/content", headers=headers).content == b"same bytes"
    assert client.delete(f"{API}/files/{b['id']}", headers=headers).status_code == 204
    assert _blobs(settings, o.org.id) == [a["sha256"]]  # both are in the trash

    _empty_trash(client, headers)
    assert service.sweep_blobs(make_sessionmaker(connection), settings) == 1
    assert _blobs(settings, o.org.id) == []


def test_the_same_bytes_in_two_organizations_are_two_blobs(
    client: TestClient, db: Session, settings: Settings, connection: Connection
) -> None:
    o, other = make_org(db), make_org(db)
    mine = _upload(client, auth(db, o.admin), "a.txt", b"shared text").json()
    _upload(client, auth(db, other.admin), "a.txt", b"shared text")
    assert client.delete(f"{API}/files/{mine['id']}", headers=auth(db, o.admin)).status_code == 204
    _empty_trash(client, auth(db, o.admin))
    assert service.sweep_blobs(make_sessionmaker(connection), settings) == 1
    assert _blobs(settings, o.org.id) == []
    assert _blobs(settings, other.org.id) == [mine["sha256"]]


def test_a_hidden_file_keeps_its_blob_until_the_purge_and_the_sweep(
    client: TestClient, db: Session, settings: Settings, connection: Connection
) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    file = _upload(client, headers, "kept.txt", b"kept for restore").json()
    row = db.get(DriveFile, (o.org.id, uuid.UUID(file["id"])))
    assert row is not None
    row.hidden_by = uuid.uuid4()
    db.flush()

    assert client.get(f"{API}/files/{file['id']}", headers=headers).status_code == 404
    assert client.get(f"{API}/files", headers=headers).json()["total"] == 0
    factory = make_sessionmaker(connection)
    assert service.sweep_blobs(factory, settings) == 0
    assert _blobs(settings, o.org.id) == [file["sha256"]]

    db.execute(delete(DriveFile).where(DriveFile.org_id == o.org.id))  # what the purge does
    db.flush()
    assert service.sweep_blobs(factory, settings) == 1
    assert _blobs(settings, o.org.id) == []


def test_dismissed_owners_show_marked_and_as_former_employee_when_names_are_off(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org, first_name="Finn", last_name="Left")
    file = _upload(client, auth(db, owner), "handover.txt", b"notes").json()
    owner.status = "dismissed"
    db.flush()
    headers = auth(db, o.admin)
    shown = client.get(f"{API}/files/{file['id']}", headers=headers).json()
    assert shown["owner"]["display_name"] == "Finn Left" and shown["owner"]["status"] == "dismissed"
    o.org.show_former_employee_names = False
    db.flush()
    shown = client.get(f"{API}/files", headers=headers).json()["items"][0]
    assert shown["owner"]["display_name"] == "Former employee"
    assert shown["uploaded_by"]["display_name"] == "Former employee"


def test_disk_storage_enforces_the_limit_while_reading_a_stream(tmp_path: Path) -> None:
    storage = DiskStorage(tmp_path / "blobs")
    digest, size = storage.put(io.BytesIO(b"12345"), max_bytes=5)
    assert (digest, size) == (hashlib.sha256(b"12345").hexdigest(), 5)
    with storage.open(digest) as handle:
        assert handle.read() == b"12345"
    with pytest.raises(Exception) as refused:
        storage.put(io.BytesIO(b"123456"), max_bytes=5)
    assert getattr(refused.value, "code", None) == "too_large"
    assert list(storage.hashes()) == [digest]
    assert list((tmp_path / "blobs" / ".staging").iterdir()) == []
    with pytest.raises(ValueError):
        storage.open("../../etc/passwd")


def test_content_disposition_quotes_every_name_safely() -> None:
    assert (
        service.content_disposition("plain.txt")
        == "attachment; filename=\"plain.txt\"; filename*=UTF-8''plain.txt"
    )
    header = service.content_disposition("日本.txt")
    assert header == "attachment; filename=\".txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"
    assert 'filename="download"' in service.content_disposition("日本")


def test_the_blob_sweep_runs_periodically(app: Any) -> None:
    from roster.workers import periodic_jobs

    assert "drive-blob-sweep" in [name for name, _, _ in periodic_jobs(app)]


def test_a_real_server_stops_reading_an_oversized_upload_and_keeps_nothing(
    databases: Any, tmp_path: Path
) -> None:
    import select as select_module
    import socket

    from roster.db.engine import make_engine, transaction
    from tests.factories import token_for
    from tests.liveserver import LiveServer

    url = databases.new_database()
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        o = make_org(session)
        token = token_for(session, o.admin)
    engine.dispose()
    data_dir = tmp_path / "live"
    limit = 256 * 1024
    server = LiveServer(url, data_dir, ROSTER_MAX_UPLOAD_BYTES=str(limit), ROSTER_BACKGROUND_WORKERS="false")
    server.start()
    total = 64 * 1024 * 1024
    sent = 0
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = (
                f"POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
            part = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
            ).encode()
            sock.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
            chunk = b"0" * (64 * 1024)
            framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            try:
                while sent < total:
                    if select_module.select([sock], [], [], 0)[0]:
                        break  # the server has answered: stop sending
                    sock.sendall(framed)
                    sent += len(chunk)
                while b"too_large" not in answer and (data := sock.recv(4096)):
                    answer += data
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed the connection on us: it stopped reading too
    finally:
        server.stop()
    assert sent < total / 2, f"the server read {sent} bytes of an upload over a {limit}-byte limit"
    if answer:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"too_large" in answer
    leftovers = (
        [p for p in (data_dir / "files").rglob("*") if p.is_file()] if (data_dir / "files").exists() else []
    )
    assert leftovers == []


def test_a_blob_clean_up_waits_for_an_upload_of_the_same_bytes_and_keeps_them(
    databases: Any, tmp_path: Path
) -> None:
    import threading

    from roster.db.engine import make_engine, transaction, writer

    engine = make_engine(databases.new_database())
    factory = make_sessionmaker(writer(engine))
    settings = make_settings(tmp_path)
    with transaction(factory) as session:
        o = make_org(session)
        storage = get_storage(settings, o.org.id)
        first = service.upload_file(
            session,
            actor=o.admin,
            name="a.txt",
            content_type="text/plain",
            stream=io.BytesIO(b"contested"),
            storage=storage,
            max_bytes=100,
        )
        org_id, admin_id, digest = o.org.id, o.admin.id, first.sha256
    with transaction(factory) as session:
        file = session.get(DriveFile, (org_id, first.id))
        assert file is not None
        admin = session.get(User, (org_id, admin_id))
        assert admin is not None
        service.delete_file(session, file, actor=admin)

    uploader = factory()
    admin = uploader.get(User, (org_id, admin_id))
    assert admin is not None
    staged = storage.stage(max_bytes=100)
    staged.write(b"contested")
    staged.finish()
    service.store_file(uploader, actor=admin, name="b.txt", content_type=None, staged=staged, storage=storage)

    outcome: list[bool] = []

    def clean_up() -> None:
        with transaction(factory) as session:
            outcome.append(service.remove_unreferenced_blob(session, storage, org_id, digest))

    cleaner = threading.Thread(target=clean_up)
    cleaner.start()
    cleaner.join(timeout=1.0)
    assert cleaner.is_alive(), "the clean-up must wait for the upload holding the blob"
    uploader.commit()
    uploader.close()
    cleaner.join(timeout=30)
    engine.dispose()
    assert outcome == [False]
    assert storage.exists(digest)


def test_other_writers_are_not_blocked_while_an_upload_streams(databases: Any, tmp_path: Path) -> None:
    """On SQLite a writing request holds the write lock; a slow upload must not hold it."""
    import threading
    import time

    import httpx

    from roster.db.engine import make_engine, transaction
    from tests.factories import token_for
    from tests.liveserver import LiveServer

    url = databases.new_database()
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        o = make_org(session)
        uploader_token, writer_token = token_for(session, o.admin), token_for(session, o.admin)
        admin_id = o.admin.id
    engine.dispose()
    server = LiveServer(url, tmp_path / "live", ROSTER_BACKGROUND_WORKERS="false").start()
    release = threading.Event()

    def slow_body() -> Any:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n\r\n'
        ).encode()
        release.wait(timeout=20)
        yield f"slowly\r\n--{BOUNDARY}--\r\n".encode()

    results: dict[str, int] = {}

    def upload() -> None:
        answer = httpx.post(
            f"{server.url}/api/v1/files",
            content=slow_body(),
            headers={
                "Authorization": f"Bearer {uploader_token}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            timeout=30,
        )
        results["upload"] = answer.status_code

    try:
        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.0)  # the upload is now waiting for its bytes
        started = time.monotonic()
        answer = httpx.post(
            f"{server.url}/api/v1/tasks",
            json={"title": "Written meanwhile", "responsible_id": str(admin_id)},
            headers={"Authorization": f"Bearer {writer_token}"},
            timeout=30,
        )
        waited = time.monotonic() - started
        release.set()
        thread.join(timeout=30)
    finally:
        release.set()
        server.stop()
    assert answer.status_code == 201, answer.text
    assert waited < 5, f"a write waited {waited:.1f}s for an upload in progress"
    assert results == {"upload": 201}


def test_an_upload_that_outlasts_its_uploaders_account_stores_nothing(
    db: Session, settings: Settings
) -> None:
    from roster.domain import errors

    o = make_org(db)
    uploader = make_user(db, o.org)
    storage = get_storage(settings, o.org.id)
    staged = storage.stage(max_bytes=100)
    staged.write(b"half a day of uploading")
    staged.finish()
    db.execute(
        update(User)
        .where(User.id == uploader.id)
        .values(status="dismissed")
        .execution_options(synchronize_session=False)  # meanwhile
    )
    with pytest.raises(errors.Unauthorized):
        service.store_file(
            db, actor=uploader, name="late.txt", content_type=None, staged=staged, storage=storage
        )
    staged.discard()
    assert _rows(db) == 0
    assert _blobs(settings, o.org.id) == []
