"""Profile photos: validated, re-encoded, cropped to squares; initials avatars otherwise.

Storage: the ``user_photos`` table (bytes in the database, so photos share the database's
transactions and backups), one row per person with 64 and 256 px JPEG thumbnails.
``users.photo_version`` names the current version; it goes into the photo URL so caches refresh.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from html import escape
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from roster.accounts.models import Organization, User
from roster.directory.models import UserPhoto
from roster.directory.service import refuse_deleted
from roster.domain import errors

SIZES = (64, 256)
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
# A 10 MB file can declare a far larger canvas; decoding one of these needs about 160 MB.
MAX_PIXELS = 40_000_000
JPEG_QUALITY = 85
READ_CHUNK = 64 * 1024


def read_limited(stream: BinaryIO, max_bytes: int, *, what: str = "The photo") -> bytes:
    """Read an upload, refusing it (413 ``too_large``, naming ``what`` it is) as soon as it passes
    ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes, what)
        chunks.append(chunk)
    return b"".join(chunks)


# Multipart boundaries and part headers around the file: small, but not nothing.
MULTIPART_OVERHEAD = 16 * 1024


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The multipart field ``file`` of the request, counted as it arrives: past ``max_bytes`` (plus
    the multipart framing) the upload stops with 413 ``too_large`` before the rest is read."""
    limit = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(max_bytes)
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(max_bytes)
        return message

    limited = Request(request.scope, counting_receive)
    try:
        form = await limited.form(max_files=1, max_fields=5)
    except HTTPException as exc:
        if exc.status_code == 413:
            raise  # the request's body limit (``BodyLimit``), not a malformed form
        raise errors.ValidationFailed(
            "The upload is not a well-formed multipart form.", field="file"
        ) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, StarletteUploadFile):
            raise errors.ValidationFailed("Send the photo as the multipart field 'file'.", field="file")
        return read_limited(upload.file, max_bytes)
    finally:
        await form.close()


def _too_large(max_bytes: int, what: str = "The photo") -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"{what} is larger than {max_bytes / (1024 * 1024):g} MB.", limit=max_bytes, max_bytes=max_bytes
    )


def _refuse(detail: str) -> errors.InvalidImage:
    return errors.InvalidImage(detail + " Use a JPEG, PNG, WebP or GIF image.", field="file")


def decode_image(data: bytes) -> Image.Image:
    """The picture in ``data`` (a GIF's first frame), fully decoded and upright; InvalidImage for
    anything else: other formats, decompression bombs, truncated or corrupt files."""
    if not data:
        raise _refuse("The file is empty.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
            if image.format not in ACCEPTED_FORMATS:
                raise _refuse("This kind of file is not accepted.")
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise _refuse(f"The image is too large ({width} x {height} pixels).")
            image.seek(0)
            image.load()
            upright: Image.Image = ImageOps.exif_transpose(image) or image
        except errors.InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse("The image declares too many pixels.") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise _refuse("The file is not a readable image.") from None
    return upright


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no transparency."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def make_thumbnails(data: bytes) -> dict[int, bytes]:
    """Square, centre-cropped JPEG thumbnails, re-encoded from pixels only (no metadata survives)."""
    image = _flatten(decode_image(data))
    result: dict[int, bytes] = {}
    for size in SIZES:
        square = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        # A fresh image holds pixels and nothing else: EXIF, GPS, ICC and comments stay behind.
        clean = Image.new("RGB", square.size)
        clean.paste(square)
        out = io.BytesIO()
        clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        result[size] = out.getvalue()
    return result


def may_change_photo(actor: User, user: User, org: Organization) -> bool:
    """An admin may change anyone's photo; a person their own, unless the organization says no."""
    if actor.is_admin:
        return True
    return actor.id == user.id and org.employees_may_change_photo


def check_may_change_photo(session: Session, user: User, actor: User) -> None:
    """Refuse (403, or 409 for the System User and deleted people) unless the actor may change this
    photo."""
    if user.is_system:
        raise errors.SystemUserImmutable("The System User has no photo.")
    refuse_deleted(user)
    org = session.get(Organization, user.org_id)
    assert org is not None
    if not may_change_photo(actor, user, org):
        if actor.id == user.id:
            raise errors.Forbidden("Your organization does not let employees change their own photo.")
        raise errors.Forbidden("Only the person or an administrator may change this photo.")


def set_user_photo(session: Session, user: User, data: bytes, *, actor: User) -> User:
    """Store a new photo (validated and re-encoded) for the person; the URL version changes."""
    check_may_change_photo(session, user, actor)
    thumbnails = make_thumbnails(data)
    # Two uploads at once must not both insert the one photo row (and the version must grow).
    session.execute(select(User.id).where(User.org_id == user.org_id, User.id == user.id).with_for_update())
    session.refresh(user, ["photo_version"])
    version = (user.photo_version or 0) + 1
    session.execute(delete(UserPhoto).where(UserPhoto.org_id == user.org_id, UserPhoto.user_id == user.id))
    session.add(
        UserPhoto(
            org_id=user.org_id,
            user_id=user.id,
            version=version,
            content_type="image/jpeg",
            small=thumbnails[64],
            large=thumbnails[256],
        )
    )
    user.photo_version = version
    session.flush()
    _audit(session, user, actor, "user.photo_changed", {"version": version})
    return user


def remove_user_photo(session: Session, user: User, *, actor: User) -> User:
    """Remove the photo; the initials avatar is served instead."""
    check_may_change_photo(session, user, actor)
    session.execute(delete(UserPhoto).where(UserPhoto.org_id == user.org_id, UserPhoto.user_id == user.id))
    if user.photo_version is not None:
        user.photo_version = None
        session.flush()
        _audit(session, user, actor, "user.photo_removed", {})
    return user


def _audit(session: Session, user: User, actor: User, action: str, details: dict[str, object]) -> None:
    from roster.lifecycle.audit import record_event

    record_event(session, org_id=user.org_id, action=action, actor=actor, subject=user, details=details)


def get_photo_bytes(session: Session, user: User, size: int) -> tuple[bytes, int] | None:
    """The stored thumbnail and its version, or None when the person has no photo."""
    column = UserPhoto.small if size == 64 else UserPhoto.large
    row = session.execute(
        select(column, UserPhoto.version).where(UserPhoto.org_id == user.org_id, UserPhoto.user_id == user.id)
    ).first()
    if row is None:
        return None
    return bytes(row[0]), int(row[1])


PALETTE = ("#1f6feb", "#8250df", "#bf3989", "#cf222e", "#bc4c00", "#4d2d00", "#1a7f37", "#0a3069")


def initials_of(display_name: str) -> str:
    """Up to two initials: the first letters of the first and last words."""
    words = [w for w in display_name.split() if w[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def initials_avatar(seed: str, initials: str, size: int) -> bytes:
    """A round SVG avatar with the initials on a colour chosen by ``seed``."""
    colour = PALETTE[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(PALETTE)]
    half = size // 2
    font = round(size * 0.42)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="{escape(initials)}">'
        f'<circle cx="{half}" cy="{half}" r="{half}" fill="{colour}"/>'
        f'<text x="50%" y="50%" dy=".35em" text-anchor="middle" fill="#ffffff" '
        f'font-family="system-ui, sans-serif" font-size="{font}">{escape(initials)}</text></svg>'
    )
    return svg.encode()
