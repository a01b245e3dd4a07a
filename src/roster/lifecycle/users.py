"""Lifecycle actions on users: dismiss, rehire, provision; and the plan and organization settings.

Each action locks what its invariant depends on, returns early when already in the target state
(SCIM clients retry), writes one audit event in the caller's transaction, and never commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.db.prepared import Prepared, instance_of
from roster.directory.keys import search_key_values
from roster.domain import errors, timezones
from roster.domain.plans import Plan, seat_limit
from roster.domain.text import clean_text
from roster.domain.users import Role, UserStatus
from roster.lifecycle.audit import record_event
from roster.lifecycle.invitations import ACCEPTED, address_holders, pending_for, refuse_held_address
from roster.lifecycle.seats import get_seat_ledger, release_seat, take_seat

MAX_RESTORE_WINDOW_DAYS = 3650


def lock_user(session: Session, user: User) -> User:
    """The user's row, locked and re-read."""
    return session.scalars(
        select(User)
        .where(User.org_id == user.org_id, User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def count_other_active_admins(session: Session, user: User) -> int:
    """Active admins of the user's organization other than the user."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.org_id == user.org_id,
                User.id != user.id,
                User.role == Role.ADMIN.value,
                User.status == UserStatus.ACTIVE.value,
                User.is_system.is_(False),
            )
        )
        or 0
    )


def guard_target(user: User, actor: User | None) -> None:
    """Refusals shared by every action on a person: the System User and oneself."""
    if user.is_system:
        raise errors.SystemUserImmutable("The System User cannot be dismissed, rehired or deleted.")
    if actor is not None and actor.id == user.id:
        raise errors.CannotActOnSelf("Ask another administrator to do this.")


def guard_last_admin(session: Session, user: User) -> None:
    """Refuse removing the organization's last active admin (call with the organization locked)."""
    if (
        user.role == Role.ADMIN.value
        and user.status == UserStatus.ACTIVE.value
        and count_other_active_admins(session, user) == 0
    ):
        raise errors.LastAdmin("Make someone else an administrator first.")


def dismiss_user(session: Session, user: User, *, actor: User | None, reason: str | None = None) -> User:
    """The person can no longer sign in; every session and token dies now; the seat is freed."""
    if user.is_system:
        raise errors.SystemUserImmutable("The System User cannot be dismissed.")
    accounts.lock_organization(session, user.org_id)
    user = lock_user(session, user)
    if user.status == UserStatus.DISMISSED.value:
        return user
    if user.status != UserStatus.ACTIVE.value:
        raise errors.InvalidTransition(f"A {user.status} user cannot be dismissed.", user_status=user.status)
    guard_target(user, actor)
    guard_last_admin(session, user)
    user.status = UserStatus.DISMISSED.value
    user.dismissed_at = clock.now()
    revoked = accounts.revoke_all_tokens(session, user)
    release_seat(session, user.org_id)
    details: dict[str, Any] = {"old_status": "active", "new_status": "dismissed", "tokens_revoked": revoked}
    reason = clean_text(reason or "", field="reason", limit=1000, allow_empty=True)
    if reason:
        details["reason"] = reason
    record_event(
        session, org_id=user.org_id, action="user.dismissed", actor=actor, subject=user, details=details
    )
    session.flush()
    return user


def rehire_user(
    session: Session, user: User, *, actor: User | None, details: dict[str, Any] | None = None
) -> User:
    """Back to active with the same credentials, if a seat is free."""
    if user.is_system:
        raise errors.SystemUserImmutable("The System User cannot be rehired.")
    accounts.lock_organization(session, user.org_id)  # the same lock order as dismiss_user: no deadlock
    user = lock_user(session, user)
    if user.status == UserStatus.ACTIVE.value:
        return user
    if user.status != UserStatus.DISMISSED.value:
        raise errors.InvalidTransition(
            f"A {user.status} user cannot be rehired; restore them first.", user_status=user.status
        )
    guard_target(user, actor)
    take_seat(session, user.org_id)
    user.status = UserStatus.ACTIVE.value
    user.dismissed_at = None
    record_event(
        session,
        org_id=user.org_id,
        action="user.rehired",
        actor=actor,
        subject=user,
        details={"old_status": "dismissed", "new_status": "active", **(details or {})},
    )
    session.flush()
    return user


_USERS: Table = User.__table__  # type: ignore[assignment]
_INSERT_USER = Prepared(insert(_USERS), columns=[column.key for column in _USERS.columns])
# Each column's Python-side default: a value, a callable (called with no context), or None.
_USER_DEFAULTS = {
    attribute: column.default
    for attribute, column in User.__mapper__.columns.items()
    if column.default is not None
}


def _check_user_defaults() -> None:
    """``_insert_user`` sends every column, so a default only the database knows would be
    overwritten with NULL, and a SQL expression cannot be computed in Python: a column with
    either must be handled there first. Checked at import."""
    for attribute, column in User.__mapper__.columns.items():
        default = _USER_DEFAULTS.get(attribute)
        if (column.server_default is not None and default is None) or (
            default is not None and not (default.is_scalar or default.is_callable)
        ):
            raise TypeError(f"users.{attribute}: _insert_user cannot compute its default")


_check_user_defaults()


def _insert_user(session: Session, values: dict[str, Any]) -> User:
    """A new user's row, written with one Core INSERT, and the persistent User that it is.

    Flushing one new User through the ORM (its unit of work and mapper events) cost more than half
    as much as all the other statements of an identity provider's create, inside the write lock.
    The row is made complete here (every column's default, the search keys the mapper events would
    compute), so the User is attached as loaded: reading it sends no query.
    """
    row: dict[str, Any] = dict.fromkeys(User.__mapper__.columns.keys())
    for attribute, default in _USER_DEFAULTS.items():
        if attribute not in values:
            row[attribute] = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
    row.update(values)
    row.update(
        search_key_values(
            first_name=row["first_name"],
            last_name=row["last_name"],
            display_name=row["display_name"],
            email=row["email"],
        )
    )
    _INSERT_USER.execute(session, row)
    user = instance_of(User, row)
    make_transient_to_detached(user)
    session.add(user)
    return user


def provision_user(
    session: Session,
    org_id: uuid.UUID,
    *,
    actor: User | None,
    email: str,
    first_name: str,
    last_name: str,
    role: str = "employee",
    position: str = "",
    via: str = "scim",
    details: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    active: bool = True,
) -> User:
    """Create a user directly (an identity provider's create): active, taking a seat, or with
    ``active=False`` dismissed from the start, taking none (an identity provider may provision
    someone disabled into a full plan).

    A pending invitation of the same address is fulfilled by it: its seat becomes the user's (or
    is given back, for a dismissed one). The user has no password (they sign in through the
    identity provider or a reset link). ``profile`` holds further attributes of the new row (the
    identity provider's own fields), so that it is written once.
    """
    address = accounts.normalize_email(email)
    key = accounts.email_key(address)
    try:
        role = Role(role).value
    except ValueError:
        raise errors.ValidationFailed("The role must be admin or employee.", field="role") from None
    holders = address_holders(session, org_id, key)
    refuse_held_address(holders, invitations=False)  # a pending invitation is fulfilled, below
    invitation = pending_for(session, org_id, key) if holders.invitation_id is not None else None
    if active and invitation is None:
        take_seat(session, org_id)
    elif not active and invitation is not None:
        release_seat(session, org_id)  # the invitation's seat: a dismissed person holds none
    first, last = first_name.strip()[:100], last_name.strip()[:100]
    columns: dict[str, Any] = {
        "display_name": accounts.compose_display_name(first, last, address.split("@")[0]),
        **(profile or {}),
    }
    user = _insert_user(
        session,
        {
            "org_id": org_id,
            "email": address,
            "email_key": key,
            "first_name": first,
            "last_name": last,
            "position": position.strip()[:200],
            "role": role,
            "status": (UserStatus.ACTIVE if active else UserStatus.DISMISSED).value,
            "dismissed_at": None if active else clock.now(),
            "password_hash": None,
            **columns,
        },
    )
    event_details: dict[str, Any] = {"via": via, "email": address, "role": role, **(details or {})}
    if not active:
        event_details["status"] = UserStatus.DISMISSED.value
    if invitation is not None:
        invitation.status = ACCEPTED
        invitation.accepted_at = clock.now()
        invitation.accepted_user_id = user.id
        event_details["invitation_id"] = str(invitation.id)
    record_event(
        session, org_id=org_id, action="user.provisioned", actor=actor, subject=user, details=event_details
    )
    return user


def change_plan(session: Session, org_id: uuid.UUID, *, actor: User | None, plan: str) -> Organization:
    """Switch plans; a plan with fewer seats than are in use is refused."""
    try:
        new = Plan(plan).value
    except ValueError:
        raise errors.ValidationFailed(
            f"Unknown plan; choose one of {', '.join(p.value for p in Plan)}.", field="plan"
        ) from None
    org = accounts.lock_organization(session, org_id)
    old = org.plan
    if old == new:
        return org
    limit = seat_limit(new)
    statement = update(Organization).where(Organization.id == org_id).values(plan=new)
    if limit is not None:
        # Guarded like take_seat: a seat taken concurrently is seen by this very UPDATE.
        statement = statement.where(Organization.seats_used <= limit)
    result = session.execute(statement.execution_options(synchronize_session=False))
    session.expire(org, ["plan", "seats_used"])
    if int(result.rowcount or 0) == 0:  # type: ignore[attr-defined]
        ledger = get_seat_ledger(session, org_id)
        raise errors.PlanTooSmall(
            f"The {new} plan has {limit} seats but {ledger.used} are in use. Revoke pending invitations "
            "or dismiss people first.",
            plan=new,
            limit=limit,
            used=ledger.used,
            active=ledger.active,
            pending_invitations=ledger.pending_invitations,
        )
    record_event(
        session,
        org_id=org_id,
        action="plan.changed",
        actor=actor,
        details={"old": old, "new": new, "old_limit": seat_limit(old), "new_limit": limit},
    )
    return org


SETTINGS_FIELDS = (
    "restore_window_days",
    "employees_may_change_photo",
    "show_former_employee_names",
    "timezone",
)


def update_organization_settings(
    session: Session,
    org_id: uuid.UUID,
    *,
    actor: User | None,
    restore_window_days: int | None = None,
    employees_may_change_photo: bool | None = None,
    show_former_employee_names: bool | None = None,
    timezone: str | None = None,
) -> Organization:
    """Change organization settings; one ``settings.changed`` event with old and new values."""
    if timezone is not None:
        timezone = timezones.check_timezone(timezone)
    if restore_window_days is not None and not 1 <= restore_window_days <= MAX_RESTORE_WINDOW_DAYS:
        raise errors.ValidationFailed(
            f"The restore window is 1 to {MAX_RESTORE_WINDOW_DAYS} days.", field="restore_window_days"
        )
    org = accounts.lock_organization(session, org_id)
    wanted = {
        "restore_window_days": restore_window_days,
        "employees_may_change_photo": employees_may_change_photo,
        "show_former_employee_names": show_former_employee_names,
        "timezone": timezone,
    }
    changes: dict[str, dict[str, Any]] = {}
    for name, value in wanted.items():
        if value is None or getattr(org, name) == value:
            continue
        changes[name] = {"old": getattr(org, name), "new": value}
        setattr(org, name, value)
    if changes:
        session.flush()
        record_event(session, org_id=org_id, action="settings.changed", actor=actor, details=changes)
    return org


def organization_settings(org: Organization) -> dict[str, Any]:
    """The settings as the API shows them."""
    return {name: getattr(org, name) for name in SETTINGS_FIELDS}
