"""User roles and statuses."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from zxcvbn import zxcvbn


class Role(StrEnum):
    ADMIN = "admin"
    EMPLOYEE = "employee"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISMISSED = "dismissed"
    DELETED = "deleted"


MIN_PASSWORD_LENGTH = 10
# zxcvbn's score, 0-4: 2 resists an online attacker's guessing (fewer than 10^8 guesses), which
# sign-in's limits already slow down; 0 and 1 are common passwords, keyboard walks, sequences,
# repeats, dates, and words of the person's own name or address.
MIN_PASSWORD_SCORE = 2
# zxcvbn refuses more than 72 characters, and its time grows steeply with length: the prefix
# decides (a strong prefix makes a strong password; a weak one is judged as such).
_SCORED_PREFIX = 64


def password_problem(password: str, context: Iterable[str] = ()) -> str | None:
    """Why a password is not acceptable, or None when it is. ``context`` holds words a guesser
    would try first: the person's name and address, the organization's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    if password.strip() == "" or len(set(password)) < 4:
        return "Use a less repetitive password."
    words = [w for text in context if text for w in _words(text)]
    result = zxcvbn(password[:_SCORED_PREFIX], user_inputs=words)
    if result["score"] < MIN_PASSWORD_SCORE:
        feedback = result["feedback"]
        why = feedback["warning"] or "It would be easy to guess."
        if not feedback["warning"] and any(w.lower() in password.lower() for w in words if len(w) >= 3):
            why = "It is built on your name, your address or your organization's name."
        tip = (feedback["suggestions"] or ["Add another word or two. Uncommon words are better."])[0]
        return f"Choose a password that is harder to guess. {why} {tip}"
    return None


def _words(text: str) -> list[str]:
    """A name or address as a guesser would split it: the whole, an address's local part, and
    each word."""
    text = text.strip()
    parts = [p for p in re.split(r"[\s@._+-]+", text) if p]
    return [text, text.split("@")[0], *parts]
