"""Helpers several pages use: people for pickers and as content names them, the seat ledger,
authorship notes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.deps import Principal
from roster.accounts.models import User
from roster.accounts.schemas import UserRef, name_hidden, user_ref
from roster.accounts.service import get_system_user
from roster.directory.keys import search_key
from roster.directory.search import active_people, search_users
from roster.lifecycle.audit import has_audit_events
from roster.lifecycle.deletion import OriginalAuthor, list_original_authors

PICKER_LIMIT = 200


def picker_people(session: Session, principal: Principal) -> list[User]:
    """Active people for the no-JavaScript people pickers (the script searches instead)."""
    # The first people by name, without the directory's total: the pickers never show it, and
    # counting the active people of a large organization cost more than the whole page.
    return list(
        session.scalars(
            select(User)
            .where(User.org_id == principal.org_id, *active_people())
            .order_by(User.display_name_key, User.id)
            .limit(PICKER_LIMIT)
        )
    )


def plan_name(plan: str) -> str:
    """A plan as the pages name it: "Free plan" (the API and the audit log keep the code, "free")."""
    return f"{plan.capitalize()} plan"


def names_apart(first: User, second: User) -> tuple[str, str]:
    """Two people's names as one message shows them side by side: with their addresses when the
    names alone are the same ("Chloé Martin (chloe@a.test) is merged into Chloé Martin (...)")."""
    if first.display_name.casefold() != second.display_name.casefold():
        return first.display_name, second.display_name

    def named(user: User) -> str:
        return f"{user.display_name} ({user.email})" if user.email else user.display_name

    return named(first), named(second)


def as_content_names(
    session: Session, principal: Principal, users: dict[uuid.UUID, User]
) -> dict[uuid.UUID, User | UserRef]:
    """People as the pages' content (tasks, files, leads, messages) names them, as the API does:
    with the organization's ``show_former_employee_names`` off, those who left become "Former
    employee" (``user_ref``); everyone else stays as they are."""
    show = principal.organization(session).show_former_employee_names
    return {
        user_id: user_ref(user, show_former_names=show) if name_hidden(user, show_former_names=show) else user
        for user_id, user in users.items()
    }


def audit_picker_people(
    session: Session, principal: Principal, *, q: str = "", chosen: Sequence[uuid.UUID | None] = ()
) -> tuple[list[User], int]:
    """For the audit log's filters: everyone, whatever their status, by name, and how many match.

    At most ``PICKER_LIMIT`` are listed (``q``, a name prefix, narrows them); the people already
    chosen are always listed, and the System User when the log names it.
    """
    people, total = search_users(session, principal.org_id, q=q, status="all", per_page=PICKER_LIMIT)
    system = get_system_user(session, principal.org_id)
    if search_key(system.display_name).startswith(search_key(q)) and has_audit_events(
        session, principal.org_id, user_id=system.id
    ):
        people.insert(0, system)
    listed = {p.id for p in people}
    for user_id in chosen:
        if user_id is not None and user_id not in listed:
            user = session.get(User, (principal.org_id, user_id))
            if user is not None:
                people.append(user)
                listed.add(user.id)
    return people, total


def authorship_notes(
    session: Session, principal: Principal, kind: str, object_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, OriginalAuthor]:
    """For admins: who originally wrote content a deletion moved, by object id."""
    if not principal.is_admin or not object_ids:
        return {}
    return list_original_authors(session, principal.org_id, kind, object_ids)


def unchanged_display_name_left_out(user: User, values: dict[str, str]) -> dict[str, str]:
    """A profile form's fields as changes, without the display name when it was sent back as it is.

    The forms always send the display name; passing it on unchanged would keep a composed display
    name from following a changed first or last name, which the API's PATCH does."""
    changes = dict(values)
    if " ".join(changes.get("display_name", "").split()) == user.display_name:
        del changes["display_name"]
    return changes
