"""Search keys: names folded for case- and accent-insensitive prefix search in any script.

The keys live in columns of ``users`` (``first_name_key`` ...). The mapper events below recompute
them on every ORM insert and update of a user, so no caller has to remember them. Code that changes
names with a Core ``UPDATE`` must add :func:`search_key_values` to its values.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper

from roster.accounts.models import SEARCH_KEY_LENGTH, User


def search_key(text: str | None) -> str:
    """Fold text for prefix search: NFKD, combining marks dropped, casefolded, spaces collapsed."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFKD", stripped.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(folded.split())[:SEARCH_KEY_LENGTH]


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` (code point order)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            # Skip the surrogate block: it is not valid in stored text.
            nxt = last + 1 if not (0xD7FF <= last < 0xE000) else 0xE000
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return "\U0010ffff"


def search_key_values(
    *, first_name: str | None, last_name: str | None, display_name: str | None, email: str | None
) -> dict[str, str]:
    """The key columns for these names, for Core UPDATEs that bypass the ORM."""
    return {
        "first_name_key": search_key(first_name),
        "last_name_key": search_key(last_name),
        "display_name_key": search_key(display_name),
        "email_search_key": search_key(email),
    }


def refresh_search_keys(user: User) -> None:
    """Recompute a user's keys from their names (the mapper events call this)."""
    for name, value in search_key_values(
        first_name=user.first_name,
        last_name=user.last_name,
        display_name=user.display_name,
        email=user.email,
    ).items():
        if getattr(user, name, None) != value:
            setattr(user, name, value)


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _keep_keys_in_step(_mapper: Mapper[Any], _connection: Connection, target: User) -> None:
    refresh_search_keys(target)
