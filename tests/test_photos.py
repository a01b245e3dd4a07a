"""Profile photos: who may change them, what is accepted, what is stored and how it is served."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster.accounts.models import Organization, User
from roster.directory.models import UserPhoto
from roster.directory.photos import initials_avatar, initials_of
from tests.conftest import make_settings
from tests.factories import auth, make_org, make_user

API = "/api/v1"
GPS_TAG = 0x8825


def image_bytes(fmt: str, size: tuple[int, int] = (400, 300), colour: str = "red", **save: object) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, colour).save(out, format=fmt, **save)  # type: ignore[arg-type]
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x9286] = "private comment"
    exif.get_ifd(GPS_TAG).update({1: "N", 2: (59.0, 20.0, 1.0), 3: "E", 4: (18.0, 4.0, 2.0)})
    return image_bytes("JPEG", exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [Image.new("P", (50, 50), i * 40) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG that declares a canvas of ten billion pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    )


def _put(client: TestClient, headers: dict[str, str], user: User, data: bytes, name: str = "me.png"):  # type: ignore[no-untyped-def]
    return client.put(
        f"{API}/users/{user.id}/photo", files={"file": (name, data, "image/png")}, headers=headers
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_a_person_sets_their_own_photo_in_every_accepted_format(
    client: TestClient, db: Session, fmt: str
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    answer = _put(client, auth(db, erin), erin, image_bytes(fmt))
    assert answer.status_code == 200, answer.text
    assert answer.json()["photo_url"] == f"/api/v1/users/{erin.id}/photo?size=256&v=1"
    for size in (64, 256):
        served = client.get(f"{API}/users/{erin.id}/photo", params={"size": size}, headers=auth(db, erin))
        assert served.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(served.content))
        assert (image.format, image.size) == ("JPEG", (size, size))


def test_an_animated_gif_keeps_its_first_frame(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    assert _put(client, auth(db, erin), erin, animated_gif()).status_code == 200
    served = client.get(f"{API}/users/{erin.id}/photo?size=64", headers=auth(db, erin))
    assert getattr(Image.open(io.BytesIO(served.content)), "n_frames", 1) == 1


def test_thumbnails_are_centre_cropped_squares(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    wide = Image.new("RGB", (300, 100), "blue")
    wide.paste(Image.new("RGB", (100, 100), "lime"), (100, 0))
    out = io.BytesIO()
    wide.save(out, format="PNG")
    assert _put(client, auth(db, erin), erin, out.getvalue()).status_code == 200
    served = client.get(f"{API}/users/{erin.id}/photo?size=256", headers=auth(db, erin))
    image = Image.open(io.BytesIO(served.content)).convert("RGB")
    r, g, b = image.getpixel((128, 128))  # type: ignore[misc]
    assert g > 200 and r < 60 and b < 60
    r, g, b = image.getpixel((2, 128))  # type: ignore[misc]
    assert g > 200 and b < 60  # the blue sides were cropped away


def test_exif_and_gps_are_removed(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    original = jpeg_with_exif()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_TAG)
    assert _put(client, auth(db, erin), erin, original, "me.jpg").status_code == 200
    photo = db.scalars(select(UserPhoto).where(UserPhoto.user_id == erin.id)).one()
    for stored in (photo.small, photo.large):
        image = Image.open(io.BytesIO(stored))
        assert len(image.getexif()) == 0
        assert b"SecretCam" not in stored and b"private comment" not in stored
        assert "exif" not in image.info


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bomb.png", png_bomb()),
        ("wide-bomb.png", png_bomb(2_000_000, 30)),
        ("truncated.png", image_bytes("PNG", (600, 600), "green", compress_level=0)[:5000]),
        ("notes.png", b"just some text, not an image\n" * 10),
        ("page.png", b"<html><script>alert(1)</script></html>"),
        ("empty.png", b""),
        ("vector.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("image.bmp", image_bytes("BMP")),
        ("image.tiff", image_bytes("TIFF")),
        ("document.pdf", image_bytes("PDF")),
    ],
)
def test_every_bad_file_is_refused_and_nothing_changes(
    client: TestClient, db: Session, name: str, data: bytes
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    answer = _put(client, auth(db, erin), erin, data, name)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_image"), answer.text
    db.refresh(erin)
    assert erin.photo_version is None
    assert db.scalars(select(UserPhoto).where(UserPhoto.user_id == erin.id)).first() is None


def test_a_polyglot_is_re_encoded_so_its_payload_is_dropped(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    payload = b"<script>alert('owned')</script>PK\x03\x04zip-payload"
    polyglot = image_bytes("PNG") + payload  # a valid PNG that is also an HTML/ZIP carrier
    assert _put(client, auth(db, erin), erin, polyglot).status_code == 200
    photo = db.scalars(select(UserPhoto).where(UserPhoto.user_id == erin.id)).one()
    assert b"script" not in photo.large and b"zip-payload" not in photo.small


def test_files_over_the_limit_are_refused_as_too_large(tmp_path, db: Session, connection) -> None:  # type: ignore[no-untyped-def]
    from roster.app import create_app

    app = create_app(make_settings(tmp_path, max_photo_bytes=10_000), bind=connection)
    o = make_org(db)
    erin = make_user(db, o.org)
    big = image_bytes("PNG", (300, 300), compress_level=0)
    assert len(big) > 10_000
    with TestClient(app) as client:
        answer = _put(client, auth(db, erin), erin, big)
        assert (answer.status_code, answer.json()["code"]) == (413, "too_large")
        # The limit in bytes, named as a drive upload's 413 names it (and as before).
        assert (answer.json()["limit"], answer.json()["max_bytes"]) == (10_000, 10_000)
        assert _put(client, auth(db, erin), erin, image_bytes("JPEG", (50, 50))).status_code == 200


def test_admins_set_and_remove_anyones_photo(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    admin = auth(db, o.admin)
    assert _put(client, admin, erin, image_bytes("JPEG")).json()["photo_url"].endswith("&v=1")
    assert _put(client, admin, erin, image_bytes("PNG")).json()["photo_url"].endswith("&v=2")
    answer = client.delete(f"{API}/users/{erin.id}/photo", headers=admin)
    assert (
        answer.status_code == 200 and answer.json()["photo_url"] == f"/api/v1/users/{erin.id}/photo?size=256"
    )
    served = client.get(f"{API}/users/{erin.id}/photo", headers=admin)
    assert served.headers["content-type"].startswith("image/svg+xml")


def test_employees_cannot_change_colleagues_photos(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    finn = make_user(db, o.org)
    answer = _put(client, auth(db, erin), finn, image_bytes("JPEG"))
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert client.delete(f"{API}/users/{finn.id}/photo", headers=auth(db, erin)).status_code == 403


def test_the_organization_can_stop_employees_changing_their_own_photo(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    db.execute(
        update(Organization).where(Organization.id == o.org.id).values(employees_may_change_photo=False)
    )
    db.expire_all()
    answer = _put(client, auth(db, erin), erin, image_bytes("JPEG"))
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert client.delete(f"{API}/users/{erin.id}/photo", headers=auth(db, erin)).status_code == 403
    # Admins still can.
    assert _put(client, auth(db, o.admin), erin, image_bytes("JPEG")).status_code == 200


def test_photos_are_served_with_caching_headers(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    headers = auth(db, erin)
    url = _put(client, headers, erin, image_bytes("JPEG")).json()["photo_url"]
    served = client.get(url, headers=headers)
    assert served.headers["cache-control"] == "private, max-age=31536000, immutable"
    etag = served.headers["etag"]
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    for held in (f"W/{etag}", f'"older", {etag}', "*"):  # RFC 9110: a list, weak tags, any
        assert client.get(url, headers={**headers, "If-None-Match": held}).status_code == 304, held
    unversioned = client.get(f"{API}/users/{erin.id}/photo?size=64", headers=headers)
    assert unversioned.headers["cache-control"] == "private, no-cache"


def test_without_a_photo_an_initials_avatar_is_served(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="<Doe>")
    served = client.get(f"{API}/users/{erin.id}/photo?size=64", headers=auth(db, o.admin))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert served.headers["etag"] and "no-cache" in served.headers["cache-control"]
    assert b">E</text>" in served.content and b"<Doe>" not in served.content
    assert b"&lt;&amp;</text>" in initials_avatar("seed", "<&", 64)
    assert client.get(f"{API}/users/{erin.id}/photo?size=100", headers=auth(db, o.admin)).status_code == 422
    assert initials_of("jöhn van smith") == "JS"
    assert initials_of("") == "?"


def test_a_deleted_persons_photo_is_not_shown_to_employees(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Gone", dismissed=True)
    erin.status = "deleted"
    db.flush()
    viewer = make_user(db, o.org)
    served = client.get(f"{API}/users/{erin.id}/photo?size=64", headers=auth(db, viewer))
    assert served.status_code == 200 and b">?</text>" in served.content


def test_the_size_limit_is_enforced_while_reading_not_after(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from starlette.requests import Request

    from roster.directory.photos import MULTIPART_OVERHEAD, read_upload
    from roster.domain import errors

    sent = 0

    async def endless_upload() -> dict[str, object]:
        nonlocal sent
        sent += 1
        head = (
            b"--b\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n" if sent == 1 else b""
        )
        return {"type": "http.request", "body": head + b"\0" * 4096, "more_body": True}

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/",
        "headers": [(b"content-type", b"multipart/form-data; boundary=b")],  # no Content-Length
    }
    with pytest.raises(errors.PayloadTooLarge):
        asyncio.run(read_upload(Request(scope, endless_upload), 10_000))
    assert sent <= (10_000 + MULTIPART_OVERHEAD) // 4096 + 2


def test_a_request_without_the_file_field_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org)
    answer = client.put(f"{API}/users/{erin.id}/photo", data={"other": "x"}, headers=auth(db, erin))
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_failed")
    answer = client.put(f"{API}/users/{erin.id}/photo", json={}, headers=auth(db, erin))
    assert answer.status_code == 422
