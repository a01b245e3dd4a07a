"""Rules for text people write (posts, comments, messages, titles): pure, no database."""

from __future__ import annotations

import re
import unicodedata

from roster.domain import errors

# Control characters have no place in a message: NUL breaks PostgreSQL text, the rest hide or
# reorder what readers see. Newlines and tabs stay in multi-line text.
_BIDI_CONTROLS = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def _is_refused(ch: str, *, multiline: bool) -> bool:
    if ch in "\n\t":
        return not multiline
    return unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS


# Unicode's control characters (category Cc) are exactly these two ranges. One regular expression
# finds them several times faster than asking for each character's category, and an identity
# provider's create checks about ten attributes.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(value: str) -> bool:
    """Whether the text holds a control character (newlines and tabs included)."""
    return _CONTROL_CHARACTER.search(value) is not None


def refuse_control_characters(value: str, *, field: str) -> str:
    """The one-line value (a name, a label, an id) as given; ValidationFailed if it holds a control
    character: no name has one, and PostgreSQL cannot store NUL."""
    if has_control_characters(value):
        raise errors.ValidationFailed("Control characters are not allowed.", field=field)
    return value


def clean_text(
    value: str, *, field: str, limit: int, multiline: bool = True, allow_empty: bool = False
) -> str:
    """The text with control characters removed and ends trimmed; EmptyText or TextTooLong otherwise."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(" " if ch in "\n\t" and not multiline else ch for ch in text)
    text = "".join(ch for ch in text if not _is_refused(ch, multiline=multiline))
    if not multiline:
        text = re.sub(r"\s+", " ", text)
    text = text.strip()
    if not text and not allow_empty:
        raise errors.EmptyText(f"The {field} must not be empty.", field=field)
    if len(text) > limit:
        raise errors.TextTooLong(
            f"The {field} is {len(text)} characters long; the limit is {limit}.", field=field, limit=limit
        )
    return text
