"""What can go to the trash: one ``TrashKind`` per kind of object, declared next to its model.

The trash service reads this list and never names a module's table, as the lifecycle reads the
reference registry (``roster.references``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import Session

# The rows of one table that belong to an object, given its organization and id.
Rows = Callable[[uuid.UUID, uuid.UUID], Sequence[ColumnElement[bool]]]


@dataclass(frozen=True)
class Part:
    """A table holding rows of the object (the object's own table, or one of its dependents)."""

    table: Table
    rows: Rows


@dataclass(frozen=True)
class TrashKind:
    name: str  # stable: API clients filter by it ("post", "comment", "task", "file", "lead")
    label: str  # for people: "Post"
    table: Table  # the object's own table (primary key org_id, id; a hidden_by column)
    owner_column: str  # whose the object is: its author, creator or owner
    # Short texts for listing objects, by id (a title, a file name, the start of a post).
    describe: Callable[[Session, uuid.UUID, Sequence[uuid.UUID]], dict[uuid.UUID, str]]
    # The object's dependents, hidden and restored with it (the object's own row comes first).
    dependents: tuple[Part, ...] = ()
    # Why the object cannot come back yet (its post is in the trash too), or None.
    blocked: Callable[[Session, uuid.UUID, uuid.UUID], str | None] = field(
        default=lambda _session, _org_id, _object_id: None
    )

    @property
    def parts(self) -> tuple[Part, ...]:
        own = Part(
            self.table,
            lambda org_id, object_id: (self.table.c.org_id == org_id, self.table.c.id == object_id),
        )
        return (own, *self.dependents)


_KINDS: dict[str, TrashKind] = {}


def register(kind: TrashKind) -> TrashKind:
    existing = _KINDS.get(kind.name)
    if existing is not None and existing is not kind:
        raise ValueError(f"trash kind {kind.name!r} declared twice")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> TrashKind | None:
    import roster.db.models  # noqa: F401  (imports every feature so all declarations ran)

    return _KINDS.get(name)


def all_kinds() -> list[TrashKind]:
    import roster.db.models  # noqa: F401

    return [_KINDS[name] for name in sorted(_KINDS)]


def titled_by(
    table: Table, column: str
) -> Callable[[Session, uuid.UUID, Sequence[uuid.UUID]], dict[uuid.UUID, str]]:
    """A ``describe`` that lists each object by one of its text columns (a title, a file name)."""

    def describe(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        query = select(table.c.id, table.c[column]).where(table.c.org_id == org_id, table.c.id.in_(ids))
        return {object_id: text for object_id, text in session.execute(query)}

    return describe
