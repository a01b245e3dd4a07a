"""Profiles: who may see whom, and editing one's own profile (or anyone's, for admins)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.accounts.service import (
    compose_display_name,
    display_name_follows_name,
    email_key,
    end_password_resets,
    get_user,
    lock_organization,
    normalize_email,
)
from roster.directory import departments
from roster.domain import errors, timezones
from roster.domain.users import Role, UserStatus

PROFILE_FIELDS = ("first_name", "last_name", "display_name", "position")


def can_see_user(viewer: User, user: User) -> bool:
    """Admins see everyone; employees see active colleagues and themselves."""
    return viewer.is_admin or viewer.id == user.id or user.is_active


def get_user_any(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """Any user of the organization (whatever their status), or NotFound."""
    return get_user(session, org_id, user_id)


def get_visible_user(session: Session, viewer: User, user_id: uuid.UUID) -> User:
    """A user the viewer may see, or NotFound (a dismissed person does not exist for employees)."""
    user = get_user(session, viewer.org_id, user_id)
    if not can_see_user(viewer, user):
        raise errors.NotFound("No such user.")
    return user


def refuse_deleted(user: User) -> None:
    """A deleted person's profile and photo stay as they were (an erased one's are gone for good):
    InvalidTransition; restore them first."""
    if user.status == UserStatus.DELETED.value:
        raise errors.InvalidTransition(
            f"{user.display_name} is deleted; restore them before changing their profile.",
            user_status=user.status,
        )


def update_profile(session: Session, user: User, *, actor: User, changes: dict[str, Any]) -> User:
    """Change profile fields (self or admin); the primary department and the role (admin only).

    ``changes`` holds only the fields sent. Refuses the System User, and demoting the last admin.
    """
    if user.is_system:
        raise errors.SystemUserImmutable("The System User's profile cannot be changed.")
    refuse_deleted(user)
    is_self = actor.id == user.id
    if not (is_self or actor.is_admin):
        raise errors.Forbidden("You may change only your own profile.")
    if "role" in changes and changes["role"] is not None and not actor.is_admin:
        raise errors.Forbidden("Only an administrator may change roles.")
    if "department_id" in changes and not actor.is_admin:
        # Department membership is the company structure: admins (and SCIM) manage it.
        raise errors.Forbidden("Only an administrator may change departments.")
    if changes.get("email") is not None and not actor.is_admin:
        # The address is the sign-in name: an administrator changes it, not its holder alone.
        raise errors.Forbidden("Only an administrator may change an email address.")

    before = {name: getattr(user, name) for name in PROFILE_FIELDS}
    updated: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name in changes and changes[name] is not None:
            value = " ".join(str(changes[name]).split())
            if any(unicodedata.category(c) == "Cc" for c in value):
                raise errors.ValidationFailed("Control characters are not allowed.", field=name)
            if name == "display_name" and not value:
                raise errors.ValidationFailed("The display name must not be empty.", field="display_name")
            if value != getattr(user, name):
                setattr(user, name, value)
                updated[name] = value
    # A display name that was the composed name follows the name; a chosen one stays.
    if (
        ("first_name" in updated or "last_name" in updated)
        and "display_name" not in changes
        and display_name_follows_name(
            before["display_name"], before["first_name"], before["last_name"], user.email
        )
    ):
        fallback = user.email.split("@")[0] if user.email else before["display_name"]
        user.display_name = compose_display_name(user.first_name, user.last_name, fallback)
        if user.display_name != before["display_name"]:
            updated["display_name"] = user.display_name

    if "department_id" in changes and changes["department_id"] != user.primary_department_id:
        if changes["department_id"] is not None:
            departments.get_named_department(
                session, user.org_id, changes["department_id"], field="department_id"
            )
        departments.set_primary_department(session, user, changes["department_id"], actor=actor)
        updated["department_id"] = str(changes["department_id"]) if changes["department_id"] else None

    if changes.get("email") is not None:
        change_email(session, user, actor=actor, email=str(changes["email"]))

    if "timezone" in changes:
        zone = timezones.check_timezone(changes["timezone"]) if changes["timezone"] is not None else None
        if zone != user.timezone:
            user.timezone = zone
            updated["timezone"] = zone

    role = changes.get("role")
    old_role = user.role
    if role is not None and role != user.role:
        _change_role(session, user, Role(role))

    session.flush()
    if updated:
        _audit(session, user, actor, "user.updated", {"fields": sorted(updated)})
    if user.role != old_role:
        _audit(session, user, actor, "user.role_changed", {"from": old_role, "to": user.role})
    return user


def change_email(session: Session, user: User, *, actor: User, email: str) -> User:
    """Give a person a new sign-in address (admins only).

    Refuses an invalid address (InvalidEmail), one held by another active user or a pending
    invitation (EmailInUse) or by a dismissed user (EmailBelongsToDismissedUser). The search
    keys follow through the directory's mapper events; records ``user.email_changed`` with the
    old and the new address. The same address (in any case) changes nothing.
    """
    from roster.lifecycle.invitations import check_email_is_free

    if user.is_system:
        raise errors.SystemUserImmutable("The System User's address cannot be changed.")
    refuse_deleted(user)
    if not actor.is_admin:
        raise errors.Forbidden("Only an administrator may change an email address.")
    address = normalize_email(email)
    key = email_key(address)
    old = user.email
    if address == old:
        return user
    if key != user.email_key:
        # Locked, so an invitation or another change of the same address waits for this one.
        lock_organization(session, user.org_id)
        check_email_is_free(session, user.org_id, key)
    user.email = address
    user.email_key = key
    # A reset link mailed to the old address must not outlive it.
    end_password_resets(session, user)
    session.flush()
    _audit(session, user, actor, "user.email_changed", {"from": old, "to": address})
    return user


def _change_role(session: Session, user: User, role: Role) -> None:
    from roster.lifecycle.users import guard_last_admin

    if role is Role.EMPLOYEE:
        # Locked, so two admins demoting each other at once cannot leave nobody.
        lock_organization(session, user.org_id)
        guard_last_admin(session, user)
    user.role = role.value


def _audit(session: Session, user: User, actor: User, action: str, details: dict[str, Any]) -> None:
    from roster.lifecycle.audit import record_event

    record_event(session, org_id=user.org_id, action=action, actor=actor, subject=user, details=details)
