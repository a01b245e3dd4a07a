"""The one registry of every column that points at a user.

Deletion, restore, merge, the deletion preview and erasure all read this list; nothing else knows
which tables mention people. A feature declares each of its user columns once, next to its model::

    register(UserReference(
        kind="stream.post.author", table="stream_posts", column="author_id",
        label="Posts written", meaning=Meaning.AUTHOR,
        dispositions=(Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE),
    ))

``tests/test_references.py`` reflects the schema and fails on any foreign key to ``users`` that is
not registered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Disposition(StrEnum):
    """What deleting a user may do with one kind of reference."""

    SYSTEM_USER = "system_user"  # point it at the organization's System User
    SUCCESSOR = "successor"  # point it at a chosen active user
    DELETE = "delete"  # hide the row until the purge, then destroy it


class Meaning(StrEnum):
    AUTHOR = "author"
    CREATOR = "creator"
    OWNER = "owner"
    UPLOADER = "uploader"
    ASSIGNEE = "assignee"
    RESPONSIBLE = "responsible"
    PARTICIPANT = "participant"
    OBSERVER = "observer"
    MENTION = "mention"
    TAG = "tag"
    LIKE = "like"
    MEMBER = "member"
    HEAD = "head"
    MANAGER = "manager"
    SENDER = "sender"
    RECIPIENT = "recipient"
    READER = "reader"
    INVITER = "inviter"
    ACTOR = "actor"
    SUBJECT = "subject"
    HOLDER = "holder"


class Handling(StrEnum):
    """How the lifecycle treats the column."""

    CONTENT = "content"  # work that must survive: moved or hidden per the chosen disposition
    CREDENTIAL = "credential"  # sessions, tokens, reset links: destroyed on delete, never restored
    RECORD = "record"  # history (audit actor, authorship map): keeps pointing at the tombstone row
    # The person's own data (their photo): stays with the account through delete and restore, and
    # is destroyed when the restore window ends (purge) or at erasure.
    PERSONAL = "personal"


@dataclass(frozen=True)
class StillOpen:
    """When a row is work still under way (an open task, a lead not yet won or lost): its
    ``column`` (on the row's own table, or on the ``parent`` table its ``parent_key`` column points
    at, by the organization and the parent's id) holds none of the ``closed`` values.

    A handover moves only open work unless asked for everything: who answered for a task that is
    done is a fact about the past, and the next person takes over what is left to do."""

    column: str
    closed: tuple[str, ...]
    parent: str | None = None  # the table holding ``column``, when it is not the row's own
    parent_key: str | None = None  # the row's column naming the parent's id

    def __post_init__(self) -> None:
        if (self.parent is None) != (self.parent_key is None):
            raise ValueError("StillOpen: give both parent and parent_key, or neither")
        if not self.closed:
            raise ValueError("StillOpen: name at least one closed value")


@dataclass(frozen=True)
class UserReference:
    kind: str  # "<module>.<object>.<role>", stable: API clients name it in dispositions
    table: str
    column: str
    label: str  # for people: "Posts written", "Tasks they are responsible for"
    meaning: Meaning
    dispositions: tuple[Disposition, ...] = (Disposition.SYSTEM_USER,)
    handling: Handling = Handling.CONTENT
    # Other columns that, with this one, form a unique key (an association row such as a like or a
    # task participant). Moving must not create a duplicate: a row whose target already exists is
    # hidden instead (so restore can bring it back).
    unique_with: tuple[str, ...] = ()
    # The column that hides the row for the DELETE disposition (see db.base.Hideable).
    hide_column: str | None = None
    # Whether the column may be NULL; where allowed, SUCCESSOR/SYSTEM_USER alternatives are the same.
    nullable: bool = False
    # Where the row is a piece of work with an end (a task, a lead): when it is still open.
    open_when: StillOpen | None = None

    def __post_init__(self) -> None:
        if (
            self.handling is Handling.CONTENT
            and Disposition.DELETE in self.dispositions
            and self.hide_column is None
        ):
            raise ValueError(f"{self.kind}: the delete disposition needs a hide_column")
        if self.handling is Handling.CONTENT and not self.dispositions:
            raise ValueError(f"{self.kind}: content needs at least one disposition")

    @property
    def default_disposition(self) -> Disposition:
        if Disposition.SYSTEM_USER in self.dispositions:
            return Disposition.SYSTEM_USER
        return self.dispositions[0]


_REGISTRY: dict[str, UserReference] = {}


def register(reference: UserReference) -> UserReference:
    """Declare a user column. Declaring the same kind twice with other facts is an error."""
    existing = _REGISTRY.get(reference.kind)
    if existing is not None and existing != reference:
        raise ValueError(f"reference kind {reference.kind!r} declared twice")
    _REGISTRY[reference.kind] = reference
    return reference


def all_references() -> list[UserReference]:
    """Every registered reference, in a stable order (by kind)."""
    import roster.db.models  # noqa: F401  (imports every feature so all declarations ran)

    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def content_references() -> list[UserReference]:
    return [r for r in all_references() if r.handling is Handling.CONTENT]


def get_reference(kind: str) -> UserReference | None:
    all_references()
    return _REGISTRY.get(kind)
