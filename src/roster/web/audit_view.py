"""The audit log's details as people read them: labels for the keys, names for the ids of people
and departments, dates written out, codes spelled as words.

Nothing is dropped: every key of an event's details is shown, a name keeps the id it stands for
(the page puts it in the element's title), and a long list folds into a disclosure that still
lists every item. The CSV export keeps the raw JSON; this is only for the page.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from roster import clock
from roster.ids import parse_uuid
from roster.references import get_reference

# Keys whose value is the id of a person (a list of them for ``user_ids``).
PERSON_KEYS = frozenset(
    {"successor_id", "into_id", "to_id", "originally_by", "user_id", "head_id", "user_ids"}
)
# Keys whose value is the id of a department.
DEPARTMENT_KEYS = frozenset({"department_id", "parent_id"})

# The labels of the keys events use, in the order they are shown (other keys follow, by name).
KEY_LABELS: dict[str, str] = {
    "reason": "Reason",
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Name",
    "role": "Role",
    "status": "Status",
    "old_status": "Status before",
    "new_status": "Status after",
    "from": "Before",
    "to": "After",
    "old": "Before",
    "new": "After",
    "old_limit": "Seats before",
    "new_limit": "Seats after",
    "fields": "Changed",
    "via": "Through",
    "by": "By",
    "successor_id": "Successor",
    "into_id": "Merged into",
    "to_id": "Handed to",
    "originally_by": "Originally by",
    "user_id": "Person",
    "user_ids": "People",
    "head_id": "Head",
    "department_id": "Department",
    "parent_id": "Parent department",
    "external_id": "External id",
    "members": "Members",
    "moved": "Moved",
    "deleted": "Hidden until the purge",
    "restored": "Given back",
    "left": "Not given back",
    "unhidden": "Shown again",
    "destroyed": "Destroyed",
    "restorable_until": "Restorable until",
    "expires_at": "Link expires",
    "tokens_revoked": "Sign-ins ended",
    "count": "How many",
    "invitation_id": "Invitation",
    "invitation_ids": "Invitations",
    "version": "Photo version",
    "pseudonym": "Pseudonym",
    "events": "Events rewritten",
    "token_id": "Token",
    "scim_token_id": "SCIM token",
    "operation_id": "Operation",
    "kind": "What",
    "object_id": "Item",
    "trash_id": "Trash item",
    "with": "Removed with",
    "digest": "Digest",
    "restore_window_days": "Restore window (days)",
    "employees_may_change_photo": "Employees may change their photo",
    "show_former_employee_names": "Former employees' names shown on content",
    "timezone": "Time zone",
    "rows": "Rows",
    "moved_rows": "Rows moved away from them",
    "files": "Files",
    "bytes": "Size in bytes",
}
_ORDER = {key: n for n, key in enumerate(KEY_LABELS)}

# Codes that stand for a word: roles, statuses, plans, the channel of a change.
CODE_LABELS: dict[str, str] = {
    "admin": "Administrator",
    "employee": "Employee",
    "active": "Active",
    "dismissed": "Dismissed",
    "deleted": "Deleted",
    "pending": "Pending",
    "accepted": "Accepted",
    "revoked": "Revoked",
    "expired": "Expired",
    "scim": "SCIM (identity provider)",
    "demo": "Demo data",
    "purge": "The restore window ended",
    "parent": "What it belonged to was removed for good",
    "free": "Free",
    "plus": "Plus",
    "standard": "Standard",
    "professional": "Professional",
    "enterprise": "Enterprise",
    "post": "Post",
    "comment": "Comment",
    "task": "Task",
    "file": "File",
    "lead": "CRM lead",
}
_CODED_KEYS = frozenset(
    {"role", "status", "old_status", "new_status", "from", "to", "old", "new", "via", "by", "kind"}
)

# Profile fields named in ``fields`` (user.updated).
FIELD_LABELS: dict[str, str] = {
    "email": "email",
    "first_name": "first name",
    "last_name": "last name",
    "display_name": "display name",
    "position": "position",
    "phone": "phone",
    "primary_department_id": "department",
    "manager_id": "manager",
    "external_id": "external id",
    "employee_number": "employee number",
    "scim_user_name": "SCIM user name",
    "scim_email_type": "email type",
    "scim_department": "SCIM department",
    "timezone": "time zone",
}

FOLD_AFTER = 5  # a list longer than this folds into a disclosure
LOOKUP_LIMIT = 1000  # ids looked up per page, so one query's parameters stay few
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass
class Detail:
    """One key of an event's details, ready for the page."""

    key: str  # as stored
    label: str
    text: str  # as people read it
    raw: str  # the stored value, as JSON (names stand for ids: this keeps them)
    items: list[str] = field(default_factory=list)  # a long list, in full, behind ``text``


@dataclass
class Names:
    """The names the page can show for ids: people and departments; and the viewer's zone, for
    the times the details hold."""

    people: Mapping[uuid.UUID, str] = field(default_factory=dict)
    departments: Mapping[uuid.UUID, str] = field(default_factory=dict)
    zone: tzinfo = UTC


def referenced_ids(
    details: Iterable[Mapping[str, Any] | None], *, limit: int = LOOKUP_LIMIT
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The ids of people and of departments that these events' details name (at most ``limit``
    of each: one event may list hundreds, and the rest simply show as ids)."""
    people: set[uuid.UUID] = set()
    departments: set[uuid.UUID] = set()
    for entry in details:
        for key, value in (entry or {}).items():
            target = people if key in PERSON_KEYS else departments if key in DEPARTMENT_KEYS else None
            if target is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                found = parse_uuid(item)
                if found is not None and len(target) < limit:
                    target.add(found)
    return people, departments


def humanize(key: str) -> str:
    """``scim_token_id`` -> ``Scim token id``: a key without a label still reads as words."""
    words = key.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:]


def _datetime(value: str, zone: tzinfo) -> str | None:
    if not _DATETIME.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = clock.to_utc(moment).astimezone(zone)
    except (ValueError, OverflowError):
        return None  # not a time, or one UTC or the viewer's zone cannot hold: shown as written
    return moment.strftime("%d %b %Y, %H:%M")  # as the page writes every time


def _scalar(key: str, value: Any, names: Names) -> str:
    if value is None:
        return "unlimited" if key in ("old_limit", "new_limit") else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    found = parse_uuid(value)
    if found is not None and key in PERSON_KEYS:
        return names.people.get(found, value)
    if found is not None and key in DEPARTMENT_KEYS:
        return names.departments.get(found, value)
    if key in _CODED_KEYS and value in CODE_LABELS:
        return CODE_LABELS[value]
    if key == "fields":
        return FIELD_LABELS.get(value, humanize(value).lower())
    return _datetime(value, names.zone) or value


def _counts(value: Mapping[str, Any]) -> str:
    """``{"stream.post.author": 3}`` -> ``Posts written: 3``."""
    if not value:
        return "nothing"
    parts = []
    for kind, count in value.items():
        reference = get_reference(kind)
        parts.append(f"{reference.label if reference else kind}: {count}")
    return "; ".join(parts)


def _is_change(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"old", "new"}


def describe(key: str, value: Any, names: Names) -> Detail:
    """One key of an event's details as the page shows it."""
    label = KEY_LABELS.get(key) or humanize(key)
    raw = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if _is_change(value):  # settings.changed: {"restore_window_days": {"old": 30, "new": 10}}
        text = f"{_scalar(key, value['old'], names)} → {_scalar(key, value['new'], names)}"
        return Detail(key, label, text, raw)
    if isinstance(value, dict):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return Detail(key, label, _counts(value), raw)
        text = "; ".join(f"{humanize(k)}: {_scalar(k, v, names)}" for k, v in value.items()) or "nothing"
        return Detail(key, label, text, raw)
    if isinstance(value, list):
        shown = [_scalar(key, item, names) for item in value]
        if not shown:
            return Detail(key, label, "none", raw)
        if len(shown) > FOLD_AFTER:
            return Detail(key, label, f"{len(shown)} in all", raw, items=shown)
        return Detail(key, label, ", ".join(shown), raw)
    return Detail(key, label, _scalar(key, value, names), raw)


def describe_details(details: Mapping[str, Any] | None, names: Names) -> list[Detail]:
    """Every key of an event's details, the well-known ones first."""
    keys: Sequence[str] = sorted((details or {}), key=lambda k: (_ORDER.get(k, len(_ORDER)), k))
    return [describe(key, (details or {})[key], names) for key in keys]
