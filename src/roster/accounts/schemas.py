"""The User and UserRef shapes of API.md, used by every feature."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from roster.accounts.models import User


class UserRef(BaseModel):
    id: uuid.UUID
    display_name: str
    status: Literal["active", "dismissed", "deleted"]
    is_system: bool


class UserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    display_name: str
    first_name: str
    last_name: str
    position: str
    department_id: uuid.UUID | None = None
    role: Literal["admin", "employee"]
    status: Literal["active", "dismissed", "deleted"]
    is_system: bool
    photo_url: str | None = None
    created_at: datetime
    dismissed_at: datetime | None
    deleted_at: datetime | None
    restorable_until: datetime | None
    timezone: str | None = None  # their own choice; None: the organization's


FORMER_EMPLOYEE = "Former employee"


def name_hidden(user: User, *, show_former_names: bool) -> bool:
    """Whether content names the person "Former employee": with the organization's
    ``show_former_employee_names`` off, dismissed and deleted people (never the System User)."""
    return not show_former_names and not user.is_system and user.status != "active"


def user_ref(user: User, *, show_former_names: bool = True) -> UserRef:
    """How content names a person (see ``name_hidden``)."""
    hidden = name_hidden(user, show_former_names=show_former_names)
    return UserRef(
        id=user.id,
        display_name=FORMER_EMPLOYEE if hidden else user.display_name,
        status=user.status,  # type: ignore[arg-type]
        is_system=user.is_system,
    )


def user_out(user: User) -> UserOut:
    """The API's User object. The directory feature fills ``department_id`` and ``photo_url``."""
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        first_name=user.first_name,
        last_name=user.last_name,
        position=user.position,
        department_id=user.primary_department_id,
        role=user.role,  # type: ignore[arg-type]
        status=user.status,  # type: ignore[arg-type]
        is_system=user.is_system,
        photo_url=photo_url_of(user),
        created_at=user.created_at,
        dismissed_at=user.dismissed_at,
        deleted_at=user.deleted_at,
        restorable_until=user.restorable_until,
        timezone=user.timezone,
    )


def photo_url_of(user: User, size: int = 256) -> str | None:
    """The photo (or initials avatar) URL; the version in it changes with every new photo, so
    caches may keep each version for long."""
    return photo_url(user.id, user.is_system, user.photo_version, size)


def photo_url(user_id: uuid.UUID, is_system: bool, photo_version: int | None, size: int = 256) -> str | None:
    """:func:`photo_url_of` from the three columns it reads."""
    if is_system:
        return None
    url = f"/api/v1/users/{user_id}/photo?size={size}"
    return f"{url}&v={photo_version}" if photo_version else url


class LoginIn(BaseModel):
    model_config = ConfigDict(str_max_length=1024, extra="forbid")
    organization: str = Field(max_length=63)
    email: str = Field(max_length=320)
    password: str


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    user: UserOut


class PersonalTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=3650)  # true is not one day


class PersonalTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    token: str | None = None  # shown once, at creation


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization: str = Field(max_length=63)
    email: str = Field(max_length=320)


class PasswordResetConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=300)
    password: str = Field(max_length=1024)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
