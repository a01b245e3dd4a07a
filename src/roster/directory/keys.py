"""Search keys: names folded for case- and accent-insensitive prefix search in any script.

The keys live in columns of ``users`` (``first_name_key`` ...). The mapper events below recompute
them on every ORM insert and update of a user, and a session hook adds them to ``UPDATE`` statements
on ``User`` run through a Session (``session.execute(update(User).values(last_name=...))``, also
with a list of parameter rows), so no caller has to remember them. Only a Core UPDATE on the bare
table through a Connection, or a name set to a SQL expression, must add :func:`search_key_values`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, ORMExecuteState, Session
from sqlalchemy.sql.elements import BindParameter

from roster.accounts.models import SEARCH_KEY_LENGTH, User

# ASCII's control characters (category Cc), for str.translate to drop.
_ASCII_CONTROLS: dict[int, None] = dict.fromkeys([*range(0x20), 0x7F])

# Latin letters that Unicode does not decompose into a base letter and a mark, written as people
# type them without the stroke or ligature ("orsted" finds "Ørsted", "lukasz" finds "Łukasz",
# "aero" finds "Ærø"). Applied after casefolding, so only the lower-case forms are listed.
LETTERS_WITHOUT_MARKS: dict[int, str] = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "ŧ": "t",
        "ı": "i",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
    }
)


def search_key(text: str | None) -> str:
    """Fold text for prefix search: NFKD, combining marks and control characters dropped,
    casefolded, letters with a stroke or ligatures written in plain letters, whitespace
    collapsed."""
    if not text:
        return ""
    if text.isascii():
        # The same fold, for the commonest names and every address: NFKD leaves ASCII as it is
        # and finds no combining marks in it, and ASCII casefolds to lower case.
        return " ".join(text.translate(_ASCII_CONTROLS).lower().split())[:SEARCH_KEY_LENGTH]
    return _folded(text)


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    # Control characters (NUL among them, which PostgreSQL refuses in text) never match a name.
    stripped = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cc"
    )
    folded = unicodedata.normalize("NFKD", stripped.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c)).translate(LETTERS_WITHOUT_MARKS)
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


KEY_OF = {
    "first_name": "first_name_key",
    "last_name": "last_name_key",
    "display_name": "display_name_key",
    "email": "email_search_key",
}


def _name_of(column: Any) -> str | None:
    return column if isinstance(column, str) else getattr(column, "key", None)


@event.listens_for(Session, "do_orm_execute")
def _keys_for_bulk_updates(state: ORMExecuteState) -> None:
    if not state.is_update:
        return
    statement = state.statement
    description = getattr(statement, "entity_description", None)
    if not description or description.get("entity") is not User:
        return
    values: dict[Any, Any] = getattr(statement, "_values", None) or {}
    given = {_name_of(c) for c in values}
    extra: dict[str, str] = {}
    for column, value in values.items():
        key = KEY_OF.get(_name_of(column) or "")
        if key is None or key in given:
            continue
        literal = value.value if isinstance(value, BindParameter) else value
        if literal is None or isinstance(literal, str):
            extra[key] = search_key(literal)
    if extra:
        state.statement = statement.values(**extra)  # type: ignore[attr-defined]
    rows = state.parameters
    if isinstance(rows, list):
        for row in rows:
            for name, key in KEY_OF.items():
                if name in row and key not in row and (row[name] is None or isinstance(row[name], str)):
                    row[key] = search_key(row[name])
