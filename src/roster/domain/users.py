"""User roles and statuses."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    EMPLOYEE = "employee"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISMISSED = "dismissed"
    DELETED = "deleted"


MIN_PASSWORD_LENGTH = 10


def password_problem(password: str) -> str | None:
    """Why a password is not acceptable, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    if password.strip() == "" or len(set(password)) < 4:
        return "Use a less repetitive password."
    return None
