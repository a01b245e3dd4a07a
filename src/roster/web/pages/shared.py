"""Helpers several pages use: people for pickers, the seat ledger, authorship notes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from roster.accounts.deps import Principal
from roster.accounts.models import User
from roster.directory.search import search_users
from roster.lifecycle.deletion import list_original_authors

PICKER_LIMIT = 200


def picker_people(session: Session, principal: Principal) -> list[User]:
    """Active people for the no-JavaScript people pickers (the script searches instead)."""
    people, _total = search_users(session, principal.org_id, status="active", per_page=PICKER_LIMIT)
    return people


def authorship_notes(
    session: Session, principal: Principal, kind: str, object_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """For admins: who originally wrote content a deletion moved, by object id."""
    if not principal.is_admin or not object_ids:
        return {}
    return list_original_authors(session, principal.org_id, kind, object_ids)
