"""Opaque cursors for keyset pagination: a list's position after its last item, as a string a
client hands back (``?after=``) to read on from there.

A page number makes the database walk past every earlier row (``OFFSET``); a cursor starts the
next page at its place in the list's index, however deep. The cursor holds the sort key of the
last item given out and nothing secret; it is opaque only so that its shape may change.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from roster.domain import errors

MAX_CURSOR_LENGTH = 1024


def encode_cursor(key: str, row_id: uuid.UUID) -> str:
    """The cursor just after the row whose sort key is ``key`` (ties broken by ``row_id``)."""
    raw = json.dumps([key, str(row_id)], ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "after") -> tuple[str, uuid.UUID]:
    """The (sort key, id) a cursor from :func:`encode_cursor` holds; anything else is refused."""
    refused = errors.ValidationFailed(
        "This cursor is not one the list gave out; start again without it.", field=field
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw.decode())
        if not isinstance(key, str) or not isinstance(row_id, str) or "\x00" in key:
            raise ValueError(cursor)
        return key, uuid.UUID(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise refused from error
