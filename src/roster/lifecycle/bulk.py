"""Bulk dismiss and delete: many people in one step, all or none.

Each person goes through the single action (``dismiss_user``, ``delete_user``) inside the caller's
one transaction, so each gets the same audit event, and each deletion its own restorable
operation. Every person is checked first, with the organization locked: when any cannot be acted
on, the whole request is refused naming each of them with its own code, and nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.domain import errors
from roster.domain.text import clean_text
from roster.domain.users import Role, UserStatus
from roster.lifecycle.deletion import DeletionResult, DispositionPlan, check_recipient, delete_user
from roster.lifecycle.users import dismiss_user
from roster.references import Disposition

MAX_BULK_USERS = 200


class BulkAction(StrEnum):
    DISMISS = "dismiss"
    DELETE = "delete"


@dataclass(frozen=True)
class Refusal:
    """One person a bulk action cannot act on, and why (a stable ``code`` and a ``detail``)."""

    user_id: uuid.UUID
    code: str
    detail: str
    user: User | None = None  # None for an id that names no one of the organization

    def as_dict(self) -> dict[str, str]:
        return {"user_id": str(self.user_id), "code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class BulkCheck:
    """The people a bulk action may act on, in the order asked, and those it may not."""

    people: list[User]
    refused: list[Refusal]


def distinct_ids(ids: Sequence[User | uuid.UUID]) -> list[uuid.UUID]:
    """The ids asked for, each once, in the order first named; 1 to ``MAX_BULK_USERS`` of them."""
    seen = list(dict.fromkeys(item.id if isinstance(item, User) else item for item in ids))
    if not seen:
        raise errors.ValidationFailed("Choose at least one person.", field="user_ids")
    if len(seen) > MAX_BULK_USERS:
        raise errors.ValidationFailed(
            f"At most {MAX_BULK_USERS} people can be acted on at once; {len(seen)} were chosen.",
            field="user_ids",
            limit=MAX_BULK_USERS,
        )
    return seen


def _load(session: Session, org_id: uuid.UUID, ids: list[uuid.UUID], *, lock: bool) -> dict[uuid.UUID, User]:
    query = select(User).where(User.org_id == org_id, User.id.in_(ids)).order_by(User.id)
    if lock:  # in id order, so two bulk actions on overlapping people cannot deadlock
        query = query.with_for_update()
    return {user.id: user for user in session.scalars(query.execution_options(populate_existing=True))}


def _refusal(action: BulkAction, user: User, actor: User) -> tuple[str, str] | None:
    verb, past = ("dismiss", "dismissed") if action is BulkAction.DISMISS else ("delete", "deleted")
    if user.is_system:
        return errors.SystemUserImmutable.code, f"The System User cannot be {past}."
    if user.id == actor.id:
        return errors.CannotActOnSelf.code, f"You cannot {verb} your own account; ask another administrator."
    if user.status == UserStatus.DELETED.value:
        return errors.InvalidTransition.code, f"{user.display_name} is already deleted."
    if action is BulkAction.DISMISS and user.status != UserStatus.ACTIVE.value:
        return errors.InvalidTransition.code, f"{user.display_name} is already {user.status}."
    return None


def check_people(
    session: Session,
    ids: Sequence[User | uuid.UUID],
    *,
    actor: User,
    action: BulkAction,
    lock: bool = False,
) -> BulkCheck:
    """Who of ``ids`` (people of the actor's organization) ``action`` may act on and who not, each
    refusal with its code: ``unknown_user`` (no such person here, another organization's
    included), ``system_user_immutable``, ``cannot_act_on_self``, ``invalid_transition`` (a status
    the action does not apply to) and ``last_admin`` (the action would leave no active
    administrator). Changes nothing; ``lock`` locks the rows (call with the organization locked)."""
    wanted = distinct_ids(ids)
    found = _load(session, actor.org_id, wanted, lock=lock)
    people: list[User] = []
    refused: list[Refusal] = []
    for user_id in wanted:
        user = found.get(user_id)
        if user is None:
            refused.append(Refusal(user_id, errors.UnknownUser.code, "No such user in this organization."))
            continue
        problem = _refusal(action, user, actor)
        if problem is not None:
            refused.append(Refusal(user_id, *problem, user=user))
        else:
            people.append(user)
    admins = [u for u in people if u.role == Role.ADMIN.value and u.status == UserStatus.ACTIVE.value]
    if admins:
        others = session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.org_id == actor.org_id,
                User.id.not_in([u.id for u in admins]),
                User.role == Role.ADMIN.value,
                User.status == UserStatus.ACTIVE.value,
                User.is_system.is_(False),
            )
        )
        if not others:
            for admin in admins:
                people.remove(admin)
                refused.append(
                    Refusal(
                        admin.id,
                        errors.LastAdmin.code,
                        f"{admin.display_name} is among the last active administrators; make someone "
                        "else an administrator first.",
                        user=admin,
                    )
                )
    place = {user_id: n for n, user_id in enumerate(wanted)}
    refused.sort(key=lambda r: place[r.user_id])  # as asked, the last admins among the rest
    return BulkCheck(people=people, refused=refused)


def _checked(
    session: Session, ids: Sequence[User | uuid.UUID], *, actor: User, action: BulkAction
) -> list[User]:
    """The people, locked, or BulkRefused naming everyone who cannot be acted on."""
    accounts.lock_organization(session, actor.org_id)  # the single actions' lock order: no deadlock
    check = check_people(session, ids, actor=actor, action=action, lock=True)
    if check.refused:
        total = len(check.people) + len(check.refused)
        n = len(check.refused)
        raise errors.BulkRefused(
            f"{n} of the {total} people cannot be {'dismissed' if action is BulkAction.DISMISS else 'deleted'}; "
            "nothing was changed.",
            refused=[r.as_dict() for r in check.refused],
        )
    return check.people


def dismiss_users(
    session: Session, users: Sequence[User | uuid.UUID], *, actor: User, reason: str | None = None
) -> list[User]:
    """Dismiss every one of ``users`` (people or ids of the actor's organization) with
    ``dismiss_user``, or none: BulkRefused lists each who cannot be dismissed."""
    reason = clean_text(reason or "", field="reason", limit=1000, allow_empty=True)
    people = _checked(session, users, actor=actor, action=BulkAction.DISMISS)
    return [dismiss_user(session, user, actor=actor, reason=reason or None) for user in people]


def check_confirmation(count: int, confirm: str | int | None) -> None:
    """A bulk deletion is confirmed by typing how many people it deletes."""
    if str(confirm if confirm is not None else "").strip() != str(count):
        raise errors.ConfirmationMismatch(
            f"To confirm, type the number of people being deleted ({count}) in `confirm`.", field="confirm"
        )


def check_bulk_plan(
    session: Session, plan: DispositionPlan, people: Sequence[User], *, actor: User
) -> User | None:
    """The one successor of a bulk deletion, if any: another active person of the organization
    who is not among the people being deleted; or InvalidSuccessor, UnknownUser, InactiveUser."""
    if plan.kinds:
        raise errors.ValidationFailed(
            "A bulk deletion takes a default disposition only.", field="disposition"
        )
    if plan.default not in (Disposition.SYSTEM_USER, Disposition.SUCCESSOR):
        raise errors.ValidationFailed(
            "A bulk deletion moves references to the System User or to one successor.",
            field="disposition.default",
        )
    if plan.successor_id is None:
        if plan.default is Disposition.SUCCESSOR:
            raise errors.InvalidSuccessor(
                "Name the successor (`successor_id`).", field="disposition.successor_id"
            )
        return None
    if any(user.id == plan.successor_id for user in people):
        raise errors.InvalidSuccessor(
            "The successor is among the people being deleted; choose someone who stays.",
            field="disposition.successor_id",
        )
    # Checked against one of the people (all of them are excluded above): the actor may take over.
    return check_recipient(session, people[0], plan.successor_id, field_name="disposition.successor_id")


def delete_users(
    session: Session,
    users: Sequence[User | uuid.UUID],
    *,
    actor: User,
    confirm: str | int | None,
    disposition: DispositionPlan | None = None,
) -> list[DeletionResult]:
    """Delete every one of ``users`` with ``delete_user``, each its own restorable operation, their
    references to the System User or to one successor; or none: ``confirm`` must be the number of
    people (ConfirmationMismatch), and BulkRefused lists each who cannot be deleted."""
    plan = disposition or DispositionPlan()
    check_confirmation(len(distinct_ids(users)), confirm)
    people = _checked(session, users, actor=actor, action=BulkAction.DELETE)
    check_bulk_plan(session, plan, people, actor=actor)
    return [
        delete_user(session, user, actor=actor, confirm=user.email or str(user.id), disposition=plan)
        for user in people
    ]
