"""Invitations: invite one or many, resend, revoke, expire, look up and accept.

A pending invitation holds a seat (taken when it is created, released when it is revoked or
expires, handed over to the new user when it is accepted). Tokens are random, single-use and stored
as a SHA-256 only; the secret names its organization so a lookup stays within one tenant.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.accounts.security import hash_password, hash_secret, new_secret, split_secret
from roster.db.prepared import Prepared
from roster.domain import errors
from roster.domain.text import refuse_control_characters
from roster.domain.users import Role, UserStatus
from roster.lifecycle.audit import record_event
from roster.lifecycle.models import IS_PENDING, Invitation
from roster.lifecycle.seats import release_seat, take_seat
from roster.mail.service import queue_mail
from roster.settings import Settings, get_settings

PENDING, ACCEPTED, REVOKED, EXPIRED = "pending", "accepted", "revoked", "expired"
STATUSES = (PENDING, ACCEPTED, REVOKED, EXPIRED)
CSV_COLUMNS = ("email", "first_name", "last_name", "position", "department")
MAX_BULK_ROWS = 1000
CSV_MAX_BYTES = 5 * 1024 * 1024  # a bulk invitation file
NAME_LIMIT = 100  # first and last names, as a profile keeps them
POSITION_LIMIT = 200


def accept_url(settings: Settings, token: str) -> str:
    """The absolute link an invited person opens."""
    return f"{settings.base_url.rstrip('/')}/invite/{token}"


def _role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise errors.ValidationFailed("The role must be admin or employee.", field="role") from None


def _organization(session: Session, org_id: uuid.UUID) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise errors.NotFound("No such organization.")
    return org


def _profile_text(value: str, *, field: str, limit: int) -> str:
    """A name or position as stored (ends trimmed); refused, not cut, when it holds a control
    character or is longer than the profile keeps (as the JSON routes refuse it)."""
    text = refuse_control_characters(value, field=field).strip()
    if len(text) > limit:
        raise errors.TextTooLong(
            f"The {field} is {len(text)} characters long; the limit is {limit}.", field=field, limit=limit
        )
    return text


def _check_department(session: Session, org_id: uuid.UUID, department_id: uuid.UUID | None) -> None:
    if department_id is None:
        return
    from roster.directory.departments import get_named_department

    get_named_department(session, org_id, department_id, field="department_id")


# Made once: every invitation, acceptance and provisioning asks these (of :org_id and :key).
_PENDING_OF_ADDRESS = (
    Invitation.org_id == bindparam("org_id"),
    Invitation.email_key == bindparam("key"),
    Invitation.status == IS_PENDING,
)
_PENDING_FOR = (
    select(Invitation).where(*_PENDING_OF_ADDRESS).with_for_update().execution_options(populate_existing=True)
)
_INVITATIONS: Table = Invitation.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]


def _of_address(table: Table) -> list[ColumnElement[bool]]:
    return [table.c.org_id == bindparam("org_id"), table.c.email_key == bindparam("key")]


# Who holds an address, in one statement on the tables: its pending invitation (one at most, by a
# unique index) and the user whose address it is (one at most, by a unique index).
_ADDRESS_HOLDERS = Prepared(
    select(
        select(_INVITATIONS.c.id)
        .where(*_of_address(_INVITATIONS), _INVITATIONS.c.status == IS_PENDING)
        .scalar_subquery(),
        select(_USERS.c.id).where(*_of_address(_USERS)).scalar_subquery(),
        select(_USERS.c.status).where(*_of_address(_USERS)).scalar_subquery(),
    )
)


@dataclass(frozen=True)
class AddressHolders:
    """What holds an address in an organization: a pending invitation, a user, both or neither."""

    invitation_id: uuid.UUID | None
    user_id: uuid.UUID | None
    user_status: str | None


def address_holders(session: Session, org_id: uuid.UUID, key: str) -> AddressHolders:
    """The pending invitation and the user holding an address (by its ``email_key``)."""
    invitation_id, user_id, user_status = _ADDRESS_HOLDERS.execute(
        session, {"org_id": org_id, "key": key}
    ).one()
    return AddressHolders(invitation_id, user_id, user_status)


def refuse_held_address(holders: AddressHolders, *, invitations: bool = True) -> None:
    """Refuse an address held by an active or dismissed user or (unless ``invitations=False``, for
    a caller that fulfils the invitation) by a pending invitation."""
    if holders.user_id is not None:
        if holders.user_status == UserStatus.DISMISSED.value:
            raise errors.EmailBelongsToDismissedUser(
                "This address belongs to a dismissed user; rehire them instead.",
                field="email",
                user_id=str(holders.user_id),
            )
        raise errors.EmailInUse(
            "A user with this address exists.", field="email", user_id=str(holders.user_id)
        )
    if invitations and holders.invitation_id is not None:
        raise errors.EmailInUse(
            "A pending invitation for this address exists; resend it instead.",
            field="email",
            invitation_id=str(holders.invitation_id),
        )


def check_email_is_free(session: Session, org_id: uuid.UUID, key: str, *, invitations: bool = True) -> None:
    """Refuse an address held by an active or dismissed user or (unless ``invitations=False``) by
    a pending invitation.

    A deleted or erased user's ``email_key`` is NULL, so their address is free at once.
    """
    refuse_held_address(address_holders(session, org_id, key), invitations=invitations)


def _invitation_mail(
    session: Session, org: Organization, invitation: Invitation, inviter: User | None, url: str, days: int
) -> None:
    who = inviter.display_name if inviter is not None else org.name
    greeting = f"Hello {invitation.first_name}," if invitation.first_name else "Hello,"
    queue_mail(
        session,
        org_id=org.id,
        to=invitation.email,
        subject=f"{who} invited you to {org.name} on Roster",
        body=(
            f"{greeting}\n\n{who} invited you to join {org.name}. To accept, open this link within "
            f"{days} days, and choose your password:\n\n{url}\n\n"
            "If you did not expect this invitation, ignore this message.\n"
        ),
        purpose="invitation",
    )


def _insert_pending(session: Session, invitation: Invitation) -> None:
    """Take the seat and insert under the one-pending-invitation-per-address index, in one
    savepoint: a concurrent duplicate loses, and gives its seat back."""
    try:
        with session.begin_nested():
            take_seat(session, invitation.org_id)
            session.add(invitation)
            session.flush()
    except IntegrityError:
        raise errors.EmailInUse("A pending invitation for this address exists.", field="email") from None


def invite_user(
    session: Session,
    org_id: uuid.UUID,
    *,
    actor: User,
    email: str,
    role: str = "employee",
    first_name: str = "",
    last_name: str = "",
    position: str = "",
    department_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    expire_overdue: bool = True,
) -> tuple[Invitation, str]:
    """Invite a person: takes a seat, writes the invitation and its mail; returns it and its link."""
    settings = settings or get_settings()
    org = _organization(session, org_id)
    address = accounts.normalize_email(email)
    key = accounts.email_key(address)
    role = _role(role)
    first_name = _profile_text(first_name, field="first_name", limit=NAME_LIMIT)
    last_name = _profile_text(last_name, field="last_name", limit=NAME_LIMIT)
    position = _profile_text(position, field="position", limit=POSITION_LIMIT)
    _check_department(session, org_id, department_id)
    if expire_overdue:
        # First, before the organization row is locked (one lock order: invitations, then the
        # organization), so an overdue invitation blocks neither its address nor a seat.
        expire_invitations(session, org_id)
    check_email_is_free(session, org_id, key)
    token = new_secret(org_id)
    invitation = Invitation(
        org_id=org_id,
        email=address,
        email_key=key,
        role=role,
        first_name=first_name,
        last_name=last_name,
        position=position,
        department_id=department_id,
        invited_by=actor.id,
        token_hash=hash_secret(token),
        status=PENDING,
        expires_at=clock.now() + timedelta(days=settings.invitation_days),
    )
    _insert_pending(session, invitation)
    url = accept_url(settings, token)
    _invitation_mail(session, org, invitation, actor, url, settings.invitation_days)
    record_event(
        session,
        org_id=org_id,
        action="user.invited",
        actor=actor,
        details={
            "invitation_id": str(invitation.id),
            "email": address,
            "role": role,
            "first_name": invitation.first_name,
            "last_name": invitation.last_name,
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    return invitation, url


@dataclass
class BulkResult:
    created: list[tuple[Invitation, str]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def parse_invitation_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of an uploaded CSV (header ``email,first_name,last_name,position,department``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.ValidationFailed("The file must be UTF-8 text.", field="file") from None
    try:
        rows = _csv_rows(text)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote in strict mode...
        raise errors.ValidationFailed(f"The file is not CSV Roster can read: {exc}.", field="file") from None
    if len(rows) > MAX_BULK_ROWS:
        raise errors.ValidationFailed(f"At most {MAX_BULK_ROWS} rows at once.", field="file")
    return rows


def _csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise errors.ValidationFailed(
            f"The first line must name the columns: {','.join(CSV_COLUMNS)}.", field="file"
        )
    reader.fieldnames = header
    rows = []
    for raw in reader:
        row = {k: (v or "").strip() for k, v in raw.items() if k in CSV_COLUMNS}
        if any(row.values()):
            rows.append(row)
    return rows


def _department_id(session: Session, org_id: uuid.UUID, value: str | None) -> uuid.UUID | None:
    """A department named by id or by name (as in a CSV file)."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    refuse_control_characters(value, field="department")
    from roster.directory.departments import department_name_key
    from roster.directory.models import Department

    found = session.scalars(
        select(Department.id).where(
            Department.org_id == org_id, Department.name_key == department_name_key(value)
        )
    ).all()
    if not found:
        raise errors.UnknownDepartment(
            f"There is no department named “{value}”. Create it on the Departments page, "
            "then invite this person again.",
            field="department",
            department=value,
        )
    if len(found) > 1:
        raise errors.UnknownDepartment(
            f"{len(found)} departments are named “{value}”. Give this row the department's id "
            "instead of its name, or rename one of them on the Departments page.",
            field="department",
            department=value,
        )
    return found[0]


def invite_many(
    session: Session,
    org_id: uuid.UUID,
    *,
    actor: User,
    rows: Iterable[Mapping[str, Any] | str],
    role: str = "employee",
    settings: Settings | None = None,
) -> BulkResult:
    """Invite each row (an email, or a mapping like a CSV row); each row succeeds or fails alone."""
    settings = settings or get_settings()
    result = BulkResult()
    expire_invitations(session, org_id)  # once, before any row locks the organization
    for raw in rows:
        row: Mapping[str, Any] = {"email": raw} if isinstance(raw, str) else raw
        email = str(row.get("email") or "")
        try:
            # The row's own address is checked before its department: an address that is not
            # one, or that a colleague or a former one holds, is what the row needs fixing first.
            check_email_is_free(session, org_id, accounts.email_key(accounts.normalize_email(email)))
            department_id = _department_id(
                session, org_id, str(row.get("department_id") or row.get("department") or "")
            )
            # A savepoint per row: a refused row leaves nothing behind, not even its seat.
            with session.begin_nested():
                invitation, url = invite_user(
                    session,
                    org_id,
                    actor=actor,
                    email=email,
                    role=str(row.get("role") or role),
                    first_name=str(row.get("first_name") or ""),
                    last_name=str(row.get("last_name") or ""),
                    position=str(row.get("position") or ""),
                    department_id=department_id,
                    settings=settings,
                    expire_overdue=False,
                )
            result.created.append((invitation, url))
        except errors.RosterError as exc:
            failure: dict[str, Any] = {"email": email, "code": exc.code, "detail": exc.detail}
            for key in ("user_id", "invitation_id", "limit", "plan", "department"):
                if key in exc.extra:
                    failure[key] = exc.extra[key]
            result.failed.append(failure)
    return result


def get_invitation(session: Session, org_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation:
    """An invitation of this organization, or NotFound."""
    invitation = session.get(Invitation, (org_id, invitation_id))
    if invitation is None:
        raise errors.NotFound("No such invitation.")
    return invitation


def _lock(session: Session, invitation: Invitation) -> Invitation:
    locked = session.scalars(
        select(Invitation)
        .where(Invitation.org_id == invitation.org_id, Invitation.id == invitation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def list_invitations(
    session: Session, org_id: uuid.UUID, *, status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Invitation], int]:
    """Invitations, newest first."""
    condition = _listing_condition(org_id, status)
    total = session.scalar(select(func.count()).select_from(Invitation).where(*condition)) or 0
    items = session.scalars(
        select(Invitation)
        .where(*condition)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(items), int(total)


def count_invitations(session: Session, org_id: uuid.UUID, *, status: str | None = None) -> int:
    """How many invitations :func:`list_invitations` lists, without reading a page of them."""
    condition = _listing_condition(org_id, status)
    return int(session.scalar(select(func.count()).select_from(Invitation).where(*condition)) or 0)


def _listing_condition(org_id: uuid.UUID, status: str | None) -> list[ColumnElement[bool]]:
    if status is not None and status not in STATUSES:
        raise errors.ValidationFailed(f"status must be one of {', '.join(STATUSES)}.", field="status")
    condition: list[ColumnElement[bool]] = [Invitation.org_id == org_id]
    now = clock.now()
    # A pending invitation past its expiry counts as expired before the expiry job marks it.
    if status == PENDING:
        condition += [Invitation.status == PENDING, Invitation.expires_at > now]
    elif status == EXPIRED:
        condition.append(
            or_(
                Invitation.status == EXPIRED,
                and_(Invitation.status == PENDING, Invitation.expires_at <= now),
            )
        )
    elif status is not None:
        condition.append(Invitation.status == status)
    return condition


def resend_invitation(
    session: Session, invitation: Invitation, *, actor: User, settings: Settings | None = None
) -> tuple[Invitation, str]:
    """A new token and expiry, mailed again; the old link stops working. An expired invitation
    becomes pending again if its address is still free and a seat is."""
    settings = settings or get_settings()
    invitation = _lock(session, invitation)
    now = clock.now()
    _expire_one(session, invitation)
    if invitation.status not in (PENDING, EXPIRED):
        raise errors.InvalidTransition(f"This invitation is {invitation.status}; invite again instead.")
    was = invitation.status
    if was == EXPIRED:
        check_email_is_free(session, invitation.org_id, invitation.email_key)
        take_seat(session, invitation.org_id)
    token = new_secret(invitation.org_id)
    invitation.token_hash = hash_secret(token)
    invitation.expires_at = now + timedelta(days=settings.invitation_days)
    invitation.status = PENDING
    invitation.sent_count += 1
    if was == EXPIRED:
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise errors.EmailInUse("A pending invitation for this address exists.", field="email") from None
    url = accept_url(settings, token)
    org = _organization(session, invitation.org_id)
    _invitation_mail(session, org, invitation, actor, url, settings.invitation_days)
    record_event(
        session,
        org_id=invitation.org_id,
        action="invitation.resent",
        actor=actor,
        details={
            "invitation_id": str(invitation.id),
            "email": invitation.email,
            "old_status": was,
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    return invitation, url


def revoke_invitation(session: Session, invitation: Invitation, *, actor: User | None) -> Invitation:
    """Revoke: the link dies and, if it was pending, its seat is freed. Revoking twice is a no-op."""
    invitation = _lock(session, invitation)
    if invitation.status == REVOKED:
        return invitation
    if invitation.status == ACCEPTED:
        raise errors.InvalidTransition("This invitation was accepted; dismiss the user instead.")
    was = invitation.status
    invitation.status = REVOKED
    invitation.revoked_at = clock.now()
    if was == PENDING:
        release_seat(session, invitation.org_id)
    record_event(
        session,
        org_id=invitation.org_id,
        action="invitation.revoked",
        actor=actor,
        details={"invitation_id": str(invitation.id), "email": invitation.email, "old_status": was},
    )
    return invitation


def _expire_one(session: Session, invitation: Invitation) -> None:
    """Expire one locked invitation now if it is overdue (what the periodic job would do)."""
    if invitation.status != PENDING or invitation.expires_at > clock.now():
        return
    invitation.status = EXPIRED
    release_seat(session, invitation.org_id)
    record_event(
        session,
        org_id=invitation.org_id,
        action="invitations.expired",
        actor=None,
        details={"count": 1, "invitation_ids": [str(invitation.id)]},
    )


def expire_invitations(session: Session, org_id: uuid.UUID | None = None) -> int:
    """Mark overdue pending invitations expired and free their seats (set-based); returns how many."""
    statement = (
        update(Invitation)
        .where(Invitation.status == PENDING, Invitation.expires_at <= clock.now())
        .values(status=EXPIRED)
        .returning(Invitation.org_id, Invitation.id)
        .execution_options(synchronize_session=False)
    )
    if org_id is not None:
        statement = statement.where(Invitation.org_id == org_id)
    expired = session.execute(statement).all()
    if not expired:
        return 0
    per_org = Counter(row[0] for row in expired)
    for org, count in sorted(per_org.items()):
        release_seat(session, org, count)
        record_event(
            session,
            org_id=org,
            action="invitations.expired",
            actor=None,
            details={"count": count, "invitation_ids": [str(r[1]) for r in expired if r[0] == org][:1000]},
        )
    for invitation in list(session.identity_map.values()):
        if isinstance(invitation, Invitation):
            session.expire(invitation, ["status"])
    return len(expired)


def find_by_token(session: Session, token: str, *, lock: bool = False) -> Invitation:
    """The live invitation a token names: 404 when unknown, used or revoked; 410 when expired."""
    org_id = split_secret(token) if token else None
    invitation = None
    if org_id is not None:
        query = select(Invitation).where(
            Invitation.org_id == org_id, Invitation.token_hash == hash_secret(token)
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        invitation = session.scalar(query)
    if invitation is None or invitation.status in (ACCEPTED, REVOKED):
        raise errors.InvitationNotFound("This invitation link is invalid, used or revoked.")
    if invitation.status == EXPIRED or invitation.expires_at <= clock.now():
        raise errors.InvitationExpired("This invitation has expired; ask for a new one.")
    return invitation


def lookup_invitation(session: Session, token: str) -> tuple[Invitation, Organization]:
    """What an invitation link is for (public: the accept page shows it)."""
    invitation = find_by_token(session, token)
    return invitation, _organization(session, invitation.org_id)


def accept_invitation(
    session: Session,
    *,
    token: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    settings: Settings | None = None,
) -> tuple[User, accounts.IssuedToken]:
    """The invited person becomes an active user (the invitation's seat is theirs) and is signed in."""
    settings = settings or get_settings()
    invitation = find_by_token(session, token, lock=True)
    first = _profile_text(
        first_name if first_name is not None else invitation.first_name, field="first_name", limit=NAME_LIMIT
    )
    last = _profile_text(
        last_name if last_name is not None else invitation.last_name, field="last_name", limit=NAME_LIMIT
    )
    org = _organization(session, invitation.org_id)
    accounts.check_password(password, context=(invitation.email, first, last, org.name, org.slug))
    holder = session.scalar(
        select(User).where(User.org_id == invitation.org_id, User.email_key == invitation.email_key)
    )
    if holder is not None:
        raise errors.EmailInUse("A user with this address exists; sign in instead.", field="email")
    user = User(
        org_id=invitation.org_id,
        email=invitation.email,
        email_key=invitation.email_key,
        first_name=first,
        last_name=last,
        display_name=accounts.compose_display_name(first, last, invitation.email.split("@")[0]),
        position=invitation.position,
        role=invitation.role,
        status=UserStatus.ACTIVE.value,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    invitation.status = ACCEPTED
    invitation.accepted_at = clock.now()
    invitation.accepted_user_id = user.id
    if invitation.department_id is not None:
        from roster.directory.departments import set_primary_department

        try:
            with session.begin_nested():
                set_primary_department(session, user, invitation.department_id, actor=user)
        except errors.NotFound:
            pass  # the department was removed meanwhile; the person simply has none yet
    record_event(
        session,
        org_id=invitation.org_id,
        action="invitation.accepted",
        actor=user,
        subject=user,
        details={"invitation_id": str(invitation.id), "email": user.email, "role": user.role},
    )
    issued = accounts.issue_token(
        session, user, kind="bearer", lifetime=timedelta(days=settings.session_days)
    )
    return user, issued


def pending_for(session: Session, org_id: uuid.UUID, key: str) -> Invitation | None:
    """The pending invitation of an address, if any, locked."""
    return session.scalar(_PENDING_FOR, {"org_id": org_id, "key": key})


__all__: Sequence[str] = (
    "BulkResult",
    "accept_invitation",
    "accept_url",
    "expire_invitations",
    "get_invitation",
    "invite_many",
    "invite_user",
    "list_invitations",
    "lookup_invitation",
    "parse_invitation_csv",
    "resend_invitation",
    "revoke_invitation",
)
