"""Request and response shapes of the directory routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from roster.accounts.models import User
from roster.accounts.schemas import UserOut, UserRef, photo_url, user_ref
from roster.directory.models import Department
from roster.patches import Patch

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class UserPage(Page[UserOut]):
    """A page of the directory, with the cursors of the next page (None after the last) and of
    the one before (None on the first)."""

    next: str | None = None
    prev: str | None = None


class PersonSuggestion(UserRef):
    """What people pickers, mentions and tags show: a UserRef with position and photo."""

    position: str
    photo_url: str | None


def person_suggestion(person: User | Row[Any]) -> PersonSuggestion:
    """A suggestion of an active person: a User, or a row of ``search.SUGGESTION_COLUMNS``."""
    return PersonSuggestion(
        id=person.id,
        display_name=person.display_name,
        status=person.status,
        is_system=person.is_system,
        position=person.position,
        photo_url=photo_url(person.id, person.is_system, person.photo_version),
    )


class ProfilePatch(Patch):
    """Fields a person may change on their own profile; ``role``, ``department_id`` and ``email`` are
    for admins (``department_id`` joins that department if need be and makes it their primary one;
    ``null`` leaves them with no primary department, their memberships as they are). ``timezone``
    is an IANA name; ``null`` goes back to the organization's."""

    clearable = frozenset({"department_id", "timezone"})

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    position: str | None = Field(default=None, max_length=200)
    department_id: uuid.UUID | None = None
    role: Literal["admin", "employee"] | None = None
    email: str | None = Field(default=None, max_length=320)
    timezone: str | None = Field(default=None, max_length=64)


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    parent_id: uuid.UUID | None = None
    head_id: uuid.UUID | None = None
    external_id: str | None = Field(default=None, max_length=255)


class DepartmentPatch(Patch):
    """Only the fields sent change; ``null`` clears the parent, head or external id."""

    clearable = frozenset({"parent_id", "head_id", "external_id"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_id: uuid.UUID | None = None
    head_id: uuid.UUID | None = None
    external_id: str | None = Field(default=None, max_length=255)


class DepartmentOut(BaseModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    head: UserRef | None
    external_id: str | None
    created_at: datetime


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


def department_out(department: Department, head: User | None, *, show_former_names: bool) -> DepartmentOut:
    return DepartmentOut(
        id=department.id,
        name=department.name,
        parent_id=department.parent_id,
        head=user_ref(head, show_former_names=show_former_names) if head is not None else None,
        external_id=department.external_id,
        created_at=department.created_at,
    )


__all__ = [
    "DepartmentIn",
    "DepartmentOut",
    "DepartmentPatch",
    "MembersIn",
    "Page",
    "PersonSuggestion",
    "ProfilePatch",
    "UserOut",
    "department_out",
    "person_suggestion",
]
