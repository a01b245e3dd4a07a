"""search keys: letters with a stroke and ligatures are folded to plain letters

Revision ID: 0010
Revises: 0009

``Ø``, ``Ł``, ``Đ``, ``Æ`` and their kind have no decomposition, so the keys written before kept
them and "orsted" did not find "Ørsted". Only users whose names or address hold one of them are
rewritten.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SEARCH_KEY_LENGTH = 400
# A copy of roster.directory.keys as it was when this migration was written.
LETTERS = {
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
TRANSLATION = str.maketrans(LETTERS)
CONTROLS = dict.fromkeys([*range(0x20), 0x7F])


def _search_key(value: str | None, *, letters: bool = True) -> str:
    if not value:
        return ""
    if value.isascii():
        return " ".join(value.translate(CONTROLS).lower().split())[:SEARCH_KEY_LENGTH]
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cc"
    )
    folded = unicodedata.normalize("NFKD", stripped.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    if letters:
        folded = folded.translate(TRANSLATION)
    return " ".join(folded.split())[:SEARCH_KEY_LENGTH]


def _rewrite_keys(*, letters: bool) -> None:
    bind = op.get_bind()
    users = sa.table(
        "users",
        sa.column("org_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("first_name_key", sa.String()),
        sa.column("last_name_key", sa.String()),
        sa.column("display_name_key", sa.String()),
        sa.column("email_search_key", sa.String()),
    )
    # Both cases (the upper case of "ı" is the ASCII "I", which needs no rewrite).
    wanted = sorted({c for letter in LETTERS for c in (letter, letter.upper()) if not c.isascii()})
    holds_one = sa.or_(
        *(
            column.contains(letter)
            for column in (users.c.first_name, users.c.last_name, users.c.display_name, users.c.email)
            for letter in wanted
        )
    )
    rows = bind.execute(
        sa.select(
            users.c.org_id,
            users.c.id,
            users.c.email,
            users.c.first_name,
            users.c.last_name,
            users.c.display_name,
        ).where(holds_one)
    ).all()
    batch = [
        {
            "k_org": r.org_id,
            "k_id": r.id,
            "first": _search_key(r.first_name, letters=letters),
            "last": _search_key(r.last_name, letters=letters),
            "display": _search_key(r.display_name, letters=letters),
            "email_key": _search_key(r.email, letters=letters),
        }
        for r in rows
    ]
    statement = (
        users.update()
        .where(users.c.org_id == sa.bindparam("k_org"), users.c.id == sa.bindparam("k_id"))
        .values(
            first_name_key=sa.bindparam("first"),
            last_name_key=sa.bindparam("last"),
            display_name_key=sa.bindparam("display"),
            email_search_key=sa.bindparam("email_key"),
        )
    )
    for start in range(0, len(batch), 5000):
        bind.execute(statement, batch[start : start + 5000])


def upgrade() -> None:
    _rewrite_keys(letters=True)


def downgrade() -> None:
    _rewrite_keys(letters=False)
