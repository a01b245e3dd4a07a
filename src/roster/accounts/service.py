"""Organizations, sign-in, sessions, access tokens and password reset.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)
from sqlalchemy import bindparam, delete, select, true, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from roster import clock
from roster.accounts.models import AuthToken, Organization, PasswordReset, User
from roster.accounts.security import (
    hash_password,
    hash_secret,
    needs_rehash,
    new_secret,
    split_secret,
    verify_password,
)
from roster.domain import errors
from roster.domain.plans import Plan
from roster.domain.text import has_control_characters, refuse_control_characters
from roster.domain.users import Role, UserStatus, password_problem
from roster.mail.service import queue_mail
from roster.settings import Settings

if TYPE_CHECKING:
    from roster.lifecycle.models import AuditEvent

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SYSTEM_USER_NAME = "System User"
ORGANIZATION_NAME_MAX = 200  # organizations.name is String(200)


def normalize_email(email: str) -> str:
    """Validate an address and return it as stored; raises InvalidEmail."""
    try:
        return _normalized(email.strip())
    except EmailNotValidError as exc:
        raise errors.InvalidEmail(str(exc), field="email") from None


@functools.lru_cache(maxsize=1024)
def _normalized(address: str) -> str:
    # Deterministic (no DNS): remembered, since a request often checks one address twice (an
    # identity provider's create reads its body, then provisions, inside the write lock).
    local, at, domain = address.rpartition("@")
    if (
        at
        and DOT_ATOM_TEXT.match(local)
        and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES
        and domain.isascii()
    ):
        # A plain ASCII address (an unquoted local part, which email-validator keeps as it is, and
        # its length in characters is its length in bytes): only its domain needs
        # email-validator's checks, and an organization's people share a few domains. Checking
        # the domain was most of what validating a new address cost (about 0.2 ms).
        try:
            normalized = f"{local}@{_domain(domain)}"
        except EmailNotValidError:
            pass  # refused below, in email-validator's own words for the whole address
        else:
            # An IDNA domain (xn--) is written in Unicode, shorter than the address as sent, which
            # email-validator measures too: such an address goes to it whole.
            if normalized.isascii() and len(normalized) <= EMAIL_MAX_LENGTH:
                return normalized
    return str(validate_email(address, check_deliverability=False, test_environment=True).normalized)


@functools.lru_cache(maxsize=256)
def _domain(domain: str) -> str:
    """The part after the @-sign as email-validator writes it (EmailNotValidError where it refuses
    it): what ``validate_email`` checks and writes of an address's domain depends on the domain
    alone. A test holds ``normalize_email`` to ``validate_email`` over generated addresses."""
    return str(validate_email(f"a@{domain}", check_deliverability=False, test_environment=True).domain)


def email_key(email: str) -> str:
    """The case-insensitive key an email is unique by."""
    return unicodedata.normalize("NFKC", email).casefold()


def compose_display_name(first_name: str, last_name: str, fallback: str = "") -> str:
    name = " ".join(part for part in (first_name.strip(), last_name.strip()) if part)
    return name or fallback


def display_name_follows_name(display_name: str, first_name: str, last_name: str, email: str | None) -> bool:
    """Whether a display name is the one composed from the name (or, with no name, from the
    address), so that it follows a change of name; any other was chosen, and stays."""
    fallback = email.split("@")[0] if email else ""
    return display_name in ("", compose_display_name(first_name, last_name, fallback))


def check_password(password: str, *, field: str = "password", context: Iterable[str] = ()) -> None:
    """WeakPassword, naming the request's ``field``, unless the password is strong enough;
    ``context`` names the words a guesser would try first (see ``user_words``)."""
    problem = password_problem(password, context)
    if problem:
        raise errors.WeakPassword(problem, field=field)


def get_organization_by_slug(session: Session, slug: str) -> Organization | None:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        return None  # no organization has such a slug (and PostgreSQL cannot compare NUL)
    return session.scalar(select(Organization).where(Organization.slug == slug))


def get_system_user(session: Session, org_id: uuid.UUID) -> User:
    """The organization's System User, which receives the content of deleted people."""
    # ``is_system = true``, as the partial index ``uq_users_system_user`` is written (``IS true``
    # would not match its predicate on SQLite, and the lookup would read the whole organization).
    return session.scalars(select(User).where(User.org_id == org_id, User.is_system == true())).one()


def get_user(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """A user of this organization, or NotFound (another organization's ids do not exist)."""
    user = session.get(User, (org_id, user_id))
    if user is None:
        raise errors.NotFound("No such user.")
    return user


def get_named_user(session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, field: str) -> User:
    """A user of this organization named by a field of a request (a merge's ``into_id``), not by
    its path: ``unknown_user`` (422) for that field when there is none."""
    user = session.get(User, (org_id, user_id))
    if user is None:
        raise errors.UnknownUser("No such user in this organization.", field=field, user_id=str(user_id))
    return user


def lock_organization(session: Session, org_id: uuid.UUID) -> Organization:
    """The organization's row, locked and re-read: serialises the actions that change who is in it
    (invite, dismiss, rehire, delete, restore, merge) and its department tree.

    ``FOR NO KEY UPDATE`` on PostgreSQL (SQLite's write lock covers all of this): it conflicts with
    another such lock and with every UPDATE of the row (the seat counter, the audit chain's head),
    but not with the key-share locks that inserts referencing the organization take. A long
    deletion therefore does not stop the rest of the organization from posting, assigning tasks or
    uploading; only new references to the person being deleted wait, on that person's row (see
    ``load_users_to_reference``).
    """
    org = session.scalars(
        select(Organization)
        .where(Organization.id == org_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if org is None:
        raise errors.NotFound("No such organization.")
    return org


def load_users_to_reference(
    session: Session, org_id: uuid.UUID, user_ids: list[uuid.UUID] | set[uuid.UUID]
) -> dict[uuid.UUID, User]:
    """The users, re-read under a shared lock before new rows point at them (PostgreSQL).

    A concurrent dismissal or deletion then either committed first, and its status is seen here,
    or waits until the new rows exist and handles them too. The organization's key-share lock comes
    first, in the order every insert takes it (its foreign key), so lifecycle actions, which lock
    the organization and then the user, cannot deadlock with us.
    """
    if not user_ids:
        return {}
    session.execute(
        select(Organization.id).where(Organization.id == org_id).with_for_update(read=True, key_share=True)
    )
    query = (
        select(User)
        .where(User.org_id == org_id, User.id.in_(list(user_ids)))
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return {u.id: u for u in session.scalars(query)}


def require_live_actor(session: Session, actor: User) -> None:
    """Before new rows name the caller (creator, owner, uploader): re-read them under the same
    shared lock, so a deletion that committed while the request ran (a long upload) is seen, and one
    still running waits for the new rows. A caller no longer active is Unauthorized."""
    user = load_users_to_reference(session, actor.org_id, [actor.id]).get(actor.id)
    if user is None or not user.is_active:
        raise errors.Unauthorized("Your account is no longer active.")


def inactive_user(user: User, **extra: Any) -> errors.InactiveUser:
    """The refusal of a person who may not be chosen (mentioned, tagged, assigned, written to).

    It never names them: whoever asks may be an employee, and a deleted person's name is for
    administrators only. The body carries the ``user_id``, so a client can tell which it was."""
    if user.is_system:
        detail = "The System User cannot be chosen: it only keeps the work of people who were deleted."
    elif user.status == UserStatus.DELETED.value:
        detail = "That person's account was deleted: choose someone else."
    else:
        detail = "That person is no longer active: choose someone else."
    return errors.InactiveUser(detail, user_id=str(user.id), **extra)


def require_active_user(session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, field: str) -> User:
    """The user named by a request's ``field``, who must be active: pickers, mentions, assignees and
    recipients refuse anyone else.

    Unknown ids and other organizations' ids are UnknownUser (422) for that field, not NotFound: the
    path names what is acted on. Dismissed, deleted and System users are InactiveUser.
    """
    user = load_users_to_reference(session, org_id, [user_id]).get(user_id)
    if user is None:
        raise errors.UnknownUser("No such user in this organization.", field=field, user_id=str(user_id))
    if not user.is_active:
        raise inactive_user(user, field=field)
    return user


def get_user_by_email(session: Session, org_id: uuid.UUID, email: str) -> User | None:
    if has_control_characters(email):
        return None  # no address has one (and PostgreSQL cannot compare NUL)
    return session.scalar(select(User).where(User.org_id == org_id, User.email_key == email_key(email)))


def _is_slug_conflict(exc: IntegrityError) -> bool:
    reason = str(exc.orig)
    return "uq_organizations_slug" in reason or "organizations.slug" in reason  # PostgreSQL, SQLite


def create_organization(
    session: Session,
    *,
    slug: str,
    name: str,
    plan: str,
    admin_email: str,
    admin_password: str,
    admin_first_name: str = "",
    admin_last_name: str = "",
) -> tuple[Organization, User]:
    """Create an organization with its System User and first admin."""
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise errors.InvalidSlug(
            "Use 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
            field="slug",
        )
    if not name.strip():
        raise errors.ValidationFailed("The name must not be empty.", field="name")
    if len(name.strip()) > ORGANIZATION_NAME_MAX:
        raise errors.ValidationFailed(
            f"The name may have at most {ORGANIZATION_NAME_MAX} characters.", field="name"
        )
    refuse_control_characters(name, field="name")
    try:
        plan = Plan(plan.strip().lower()).value  # "Plus" is plus, as "ACME" is the slug acme
    except ValueError:
        raise errors.ValidationFailed(
            f"Unknown plan; choose one of {', '.join(p.value for p in Plan)}.", field="plan"
        ) from None
    if get_organization_by_slug(session, slug) is not None:
        raise errors.OrganizationExists(f"The slug {slug!r} is taken.")
    email = normalize_email(admin_email)
    check_password(admin_password, context=(email, name, slug))

    org = Organization(slug=slug, name=name.strip(), plan=plan, seats_used=1)  # the first admin
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:
        # Another transaction took the slug between the check above and this insert.
        if _is_slug_conflict(exc):
            raise errors.OrganizationExists(f"The slug {slug!r} is taken.") from None
        raise
    session.add(
        User(
            org_id=org.id,
            email=None,
            email_key=None,
            display_name=SYSTEM_USER_NAME,
            first_name="System",
            last_name="User",
            role=Role.EMPLOYEE.value,
            status=UserStatus.ACTIVE.value,
            is_system=True,
        )
    )
    admin = User(
        org_id=org.id,
        email=email,
        email_key=email_key(email),
        first_name=admin_first_name.strip(),
        last_name=admin_last_name.strip(),
        display_name=compose_display_name(admin_first_name, admin_last_name, email.split("@")[0]),
        role=Role.ADMIN.value,
        password_hash=hash_password(admin_password),
    )
    session.add(admin)
    session.flush()
    return org, admin


def authenticate(session: Session, *, organization: str, email: str, password: str) -> User:
    """The active user with these credentials; InvalidCredentials for every kind of failure."""
    org = get_organization_by_slug(session, organization) if organization else None
    user = None
    if org is not None and email:
        user = get_user_by_email(session, org.id, email)
    hashed = user.password_hash if user is not None else None
    ok = verify_password(hashed, password)  # always runs, so timing says nothing about the email
    if not ok or user is None or not user.is_active:
        raise errors.InvalidCredentials("The organization, email or password is not right.")
    if hashed and needs_rehash(hashed):
        user.password_hash = hash_password(password)
    return user


@dataclass
class IssuedToken:
    token: AuthToken
    secret: str


def issue_token(
    session: Session,
    user: User,
    *,
    kind: str,
    name: str = "",
    lifetime: timedelta | None = None,
) -> IssuedToken:
    """Create a session (``session``), a login bearer token (``bearer``) or a personal token (``pat``)."""
    refuse_control_characters(name, field="name")
    secret = new_secret(user.org_id)
    token = AuthToken(
        org_id=user.org_id,
        user_id=user.id,
        kind=kind,
        name=name,
        token_hash=hash_secret(secret),
        expires_at=clock.now() + lifetime if lifetime else None,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


# Built once: every signed-in request runs it, and building the statement cost more than running it.
_TOKEN_AND_USER = (
    select(AuthToken, User)
    .join(User, (User.org_id == AuthToken.org_id) & (User.id == AuthToken.user_id))
    .where(AuthToken.org_id == bindparam("org_id"), AuthToken.token_hash == bindparam("token_hash"))
)


def resolve_token(session: Session, secret: str) -> tuple[AuthToken, User] | None:
    """The live token and its active user for a presented secret, or None."""
    org_id = split_secret(secret)
    if org_id is None:
        return None
    row = session.execute(_TOKEN_AND_USER, {"org_id": org_id, "token_hash": hash_secret(secret)}).first()
    if row is None:
        return None
    token, user = row
    now = clock.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not user.is_active:
        return None
    return token, user


USE_RECORDED_EVERY = timedelta(minutes=1)


def use_is_due(last_used_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether ``record_use`` would write: the use was not recorded in the last minute."""
    return last_used_at is None or (now or clock.now()) - last_used_at > USE_RECORDED_EVERY


def record_use(
    session: Session, last_used_at: datetime | None, mark: Callable[[datetime], object]
) -> datetime | None:
    """Record a credential's use with ``mark(now)`` (an UPDATE of its ``last_used_at``) unless it
    was recorded in the last minute, so reads do not turn into writes on every request; the time
    recorded, or None.

    Best effort: on SQLite a reading request's transaction cannot always become a writing one
    (another connection wrote since it began), and a missed "last used" must never fail the
    request; the next request records it. A session without a transaction
    (``roster.db.engine.autocommit_reads``) needs no savepoint: the UPDATE commits by itself.
    """
    now = clock.now()
    if not use_is_due(last_used_at, now):
        return None
    try:
        if session.connection().get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            mark(now)
        else:
            with session.begin_nested():
                mark(now)
    except OperationalError:
        return None
    return now


def touch_token(session: Session, token: Any) -> None:
    """Record a token's use (a person's, or any row with ``org_id``, ``id`` and ``last_used_at``),
    as ``record_use`` does."""
    model = type(token)

    def mark(now: datetime) -> object:
        return session.execute(
            update(model)
            .where(model.org_id == token.org_id, model.id == token.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )

    recorded = record_use(session, token.last_used_at, mark)
    if recorded is not None:
        set_committed_value(token, "last_used_at", recorded)


def revoke_token(session: Session, token: AuthToken) -> None:
    session.execute(delete(AuthToken).where(AuthToken.org_id == token.org_id, AuthToken.id == token.id))


def revoke_all_tokens(session: Session, user: User) -> int:
    """End every session and token of a user at once (dismissal, deletion, password reset), and
    every reset link of theirs not yet used: a link mailed before a dismissal must not open the
    account after a rehire."""
    result = session.execute(
        delete(AuthToken).where(AuthToken.org_id == user.org_id, AuthToken.user_id == user.id)
    )
    end_password_resets(session, user)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_other_sign_ins(session: Session, user: User, *, keep: AuthToken) -> int:
    """End a user's browser sessions and login tokens except ``keep`` (the one in use); personal
    access tokens stay, as scripts hold them, and the user revokes them one by one."""
    result = session.execute(
        delete(AuthToken).where(
            AuthToken.org_id == user.org_id,
            AuthToken.user_id == user.id,
            AuthToken.kind.in_(("session", "bearer")),
            AuthToken.id != keep.id,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def end_password_resets(session: Session, user: User) -> None:
    """Make every unused reset link of a user dead (its password or address changed, or another
    link was used)."""
    session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.org_id == user.org_id,
            PasswordReset.user_id == user.id,
            PasswordReset.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def list_personal_tokens(session: Session, user: User) -> list[AuthToken]:
    return list(
        session.scalars(
            select(AuthToken)
            .where(AuthToken.org_id == user.org_id, AuthToken.user_id == user.id, AuthToken.kind == "pat")
            .order_by(AuthToken.created_at, AuthToken.id)
        )
    )


def get_personal_token(session: Session, user: User, token_id: uuid.UUID) -> AuthToken:
    token = session.get(AuthToken, (user.org_id, token_id))
    if token is None or token.user_id != user.id or token.kind != "pat":
        raise errors.NotFound("No such token.")
    return token


def revoke_personal_token(session: Session, token: AuthToken, *, actor: User) -> None:
    """Revoke one personal access token (its row goes, so scripts using it are refused at once),
    recorded in the audit log as ``personal_token.revoked`` with its id and name, never its secret."""
    from roster.lifecycle.audit import record_event

    owner = session.get(User, (token.org_id, token.user_id))
    details = {"token_id": str(token.id), "name": token.name}
    revoke_token(session, token)
    record_event(
        session,
        org_id=token.org_id,
        action="personal_token.revoked",
        actor=actor,
        subject=owner,
        details=details,
    )


def end_credential(session: Session, token: AuthToken, *, actor: User) -> None:
    """End the credential a request was made with (sign-out): a session or login token goes
    quietly, a personal access token as ``revoke_personal_token`` revokes it."""
    if token.kind == "pat":
        revoke_personal_token(session, token, actor=actor)
    else:
        revoke_token(session, token)


def find_personal_token_revocation(session: Session, user: User, token_id: uuid.UUID) -> AuditEvent | None:
    """The audit event that recorded the revocation of this personal access token of ``user`` (the
    newest), or None: how a revoke sent twice tells "revoked already" from "never theirs". A revoked
    token's row is gone, so only the log still knows whose it was; another person's or another
    organization's token finds nothing."""
    from roster.lifecycle.models import AuditEvent

    return session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.org_id == user.org_id,
            AuditEvent.action == "personal_token.revoked",
            AuditEvent.subject_id == user.id,
            AuditEvent.details["token_id"].as_string() == str(token_id),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()


def request_password_reset(session: Session, settings: Settings, *, organization: str, email: str) -> None:
    """Mail a one-time reset link if the account exists; says nothing either way."""
    org = get_organization_by_slug(session, organization)
    if org is None:
        return
    user = get_user_by_email(session, org.id, email)
    if user is None or not user.is_active or user.email is None:
        return
    secret = new_secret(org.id)
    expires = clock.now() + timedelta(minutes=settings.password_reset_minutes)
    session.add(
        PasswordReset(org_id=org.id, user_id=user.id, token_hash=hash_secret(secret), expires_at=expires)
    )
    link = f"{settings.base_url.rstrip('/')}/reset-password/{secret}"
    queue_mail(
        session,
        org_id=org.id,
        to=user.email,
        subject=f"Reset your {org.name} password",
        body=(
            f"Hello {user.display_name},\n\nSomeone asked to reset the password of your {org.name} "
            f"account. To choose a new one, open this link within {settings.password_reset_minutes} "
            f"minutes:\n\n{link}\n\nIf it was not you, ignore this message; nothing changes.\n"
        ),
        purpose="password_reset",
    )


def get_password_reset(session: Session, secret: str) -> tuple[PasswordReset, User]:
    org_id = split_secret(secret)
    reset = None
    if org_id is not None:
        reset = session.scalar(
            select(PasswordReset).where(
                PasswordReset.org_id == org_id, PasswordReset.token_hash == hash_secret(secret)
            )
        )
    if reset is None or reset.used_at is not None:
        raise errors.InvalidToken("This reset link is invalid or has been used.")
    if reset.expires_at <= clock.now():
        raise errors.TokenExpired("This reset link has expired; ask for a new one.")
    user = get_user(session, reset.org_id, reset.user_id)
    if not user.is_active:
        raise errors.InvalidToken("This reset link is invalid or has been used.")
    return reset, user


def reset_password(session: Session, *, secret: str, password: str) -> User:
    """Set a new password from a reset link; the link dies, as do the person's other links, and
    every session and token ends."""
    reset, user = get_password_reset(session, secret)
    check_password(password, context=user_words(session, user))
    reset.used_at = clock.now()
    user.password_hash = hash_password(password)
    revoke_all_tokens(session, user)
    return user


def user_words(session: Session, user: User) -> tuple[str, ...]:
    """What a guesser of this person's password would try first: their names and address, and
    their organization's."""
    org = session.get(Organization, user.org_id)
    names = (org.name, org.slug) if org is not None else ()
    return (user.email or "", user.first_name, user.last_name, user.display_name, *names)


def sign_in_names(session: Session, user: User) -> dict[str, str]:
    """The organization and email a person signs in with (what sign-in limits count by)."""
    org = session.get(Organization, user.org_id)
    return {"organization": org.slug if org is not None else "", "email": user.email or ""}


def change_password(session: Session, user: User, *, current: str, new: str, keep: AuthToken) -> None:
    """Change one's own password. Every other sign-in of the person (browser sessions, login
    tokens) ends and unused reset links die, so whoever learned the old password is out; the
    sign-in ``keep`` (the one in use) and personal access tokens stay."""
    if not verify_password(user.password_hash, current):
        raise errors.WrongPassword("The current password is not right.", field="current_password")
    check_password(new, field="new_password", context=user_words(session, user))
    user.password_hash = hash_password(new)
    revoke_other_sign_ins(session, user, keep=keep)
    end_password_resets(session, user)


def expires_in(days: int) -> datetime:
    return clock.now() + timedelta(days=days)
