"""What each row of the authorship map is, for the admin page "Content moved from <person>".

A map row names a kind and the id of the row of that kind's table: a post or task itself, or an
association row (a mention, a like, a participant) whose post, comment, task or chat is reachable
through one of its columns. This module turns a page of rows into a short title per row (a post's
or comment's excerpt, a task's or lead's title, a file's name, a chat's or department's name, an
invitation's address, the person a manager manages), a link to the item's
page where the web app has one, and what became of it (in the trash, hidden with a deleted account,
deleted for good). It loads a bounded number of statements: a few per kind present on the page,
never one per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, and_, select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.crm.models import Lead
from roster.db.base import Base
from roster.directory.models import Department
from roster.drive.models import DriveFile
from roster.lifecycle.deletion import AuthorshipEntry
from roster.lifecycle.models import Invitation
from roster.messages.models import KIND_DIRECT, Chat, Message
from roster.references import get_reference
from roster.stream.models import Comment, CommentMention, Post, PostMention
from roster.stream.service import excerpt_with_mentions
from roster.tasks.models import Task
from roster.trash.models import TrashItem

IN_TRASH = "In the trash"
HIDDEN_WITH_ACCOUNT = "Hidden with a deleted account"
GONE = "Deleted for good"


@dataclass(frozen=True)
class MovedItem:
    noun: str  # "Post", "Task": what the title names
    title: str  # the excerpt, title or name; "" when the item no longer exists
    href: str | None  # its page in the web app, None when it has none or is not shown
    state: str | None  # None while it is live; IN_TRASH, HIDDEN_WITH_ACCOUNT or GONE


@dataclass(frozen=True)
class _Found:
    title: str
    hidden_by: uuid.UUID | None


# Loads the targets of one kind by id: their title and what hides them.
_Loader = Callable[[Session, uuid.UUID, Sequence[uuid.UUID]], dict[uuid.UUID, _Found]]


def _texts(table: type[Post] | type[Comment], mentions: type[PostMention] | type[CommentMention]) -> _Loader:
    mention_table: Table = mentions.__table__  # type: ignore[assignment]
    owner = mention_table.c.post_id if mentions is PostMention else mention_table.c.comment_id

    def load(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Found]:
        rows = session.execute(
            select(table.id, table.body, table.hidden_by).where(table.org_id == org_id, table.id.in_(ids))
        ).all()
        if not rows:
            return {}
        found = [r.id for r in rows]
        marks = session.execute(
            select(mention_table.c.id, mention_table.c.user_id, owner).where(
                mention_table.c.org_id == org_id, owner.in_(found)
            )
        ).all()
        excerpts = excerpt_with_mentions(
            session, org_id, {r.id: r.body for r in rows}, [(m[0], m[1], m[2]) for m in marks]
        )
        return {r.id: _Found(excerpts.get(r.id, ""), r.hidden_by) for r in rows}

    return load


def _titled(model: type[Base], column: str, form: Callable[[str], str] = str) -> _Loader:
    """Items named by one text column of their table (``form`` dresses it), hidden by its
    ``hidden_by`` where the table has one."""
    table: Table = model.__table__  # type: ignore[assignment]
    hidden = table.c.get("hidden_by")

    def load(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Found]:
        columns = [table.c.id, table.c[column]] + ([hidden] if hidden is not None else [])
        rows = session.execute(select(*columns).where(table.c.org_id == org_id, table.c.id.in_(ids))).all()
        return {r[0]: _Found(form(r[1]), r[2] if hidden is not None else None) for r in rows}

    return load


def _chat_name(kind: str, title: str) -> str:
    return "a direct conversation" if kind == KIND_DIRECT else f"“{title}”" if title else "a group chat"


def _chat_title(kind: str, title: str) -> str:
    return "Direct conversation" if kind == KIND_DIRECT else f"“{title}”" if title else "Group chat"


def _messages(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Found]:
    # Named by their chat, not their text: a message is private to the people in the chat.
    rows = session.execute(
        select(Message.id, Message.hidden_by, Chat.kind, Chat.title)
        .join(Chat, and_(Chat.org_id == Message.org_id, Chat.id == Message.chat_id))
        .where(Message.org_id == org_id, Message.id.in_(ids))
    ).all()
    return {r[0]: _Found(f"In {_chat_name(r[2], r[3])}", r[1]) for r in rows}


def _chats(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Found]:
    rows = session.execute(
        select(Chat.id, Chat.kind, Chat.title).where(Chat.org_id == org_id, Chat.id.in_(ids))
    ).all()
    return {r[0]: _Found(_chat_title(r[1], r[2]), None) for r in rows}


@dataclass(frozen=True)
class _Target:
    """One kind of item a map row can name: what it is called, and its page (None: none)."""

    noun: str
    load: _Loader
    href: Callable[[uuid.UUID], str] | None = None


_POST = _Target("Post", _texts(Post, PostMention))  # the stream has no page per post
_COMMENT = _Target("Comment", _texts(Comment, CommentMention))
_TASK = _Target("Task", _titled(Task, "title"), lambda i: f"/tasks/{i}")
_FILE = _Target("File", _titled(DriveFile, "name"), lambda i: f"/api/v1/files/{i}/content")
_LEAD = _Target("Lead", _titled(Lead, "title"), lambda i: f"/crm/leads/{i}/edit")
# Chats open only for their members: no link for an administrator who is not one.
_MESSAGE = _Target("Message", _messages)
_CHAT = _Target("Chat", _chats)
_DEPARTMENT = _Target("Department", _titled(Department, "name"), lambda i: f"/admin/departments/{i}")
_INVITATION = _Target(
    "Invitation", _titled(Invitation, "email", lambda email: f"Sent to {email}"), lambda _i: "/people/invited"
)
_PERSON = _Target(
    "Person", _titled(User, "display_name", lambda name: f"Manager of {name}"), lambda i: f"/people/{i}"
)

# Each kind: its target, and the column of the kind's row naming it (None: the row is the target).
_KINDS: dict[str, tuple[_Target, str | None]] = {
    "stream.post.author": (_POST, None),
    "stream.post.audience": (_POST, "post_id"),
    "stream.post.mention": (_POST, "post_id"),
    "stream.post.tag": (_POST, "post_id"),
    "stream.like.user": (_POST, "post_id"),
    "stream.comment.author": (_COMMENT, None),
    "stream.comment.mention": (_COMMENT, "comment_id"),
    "tasks.task.creator": (_TASK, None),
    "tasks.task.responsible": (_TASK, None),
    "tasks.participant.user": (_TASK, "task_id"),
    "tasks.observer.user": (_TASK, "task_id"),
    "drive.file.owner": (_FILE, None),
    "drive.file.uploader": (_FILE, None),
    "crm.lead.responsible": (_LEAD, None),
    "crm.lead.creator": (_LEAD, None),
    "messages.message.sender": (_MESSAGE, None),
    "messages.chat.creator": (_CHAT, None),
    "messages.chat_member.user": (_CHAT, "chat_id"),
    "directory.department.head": (_DEPARTMENT, None),
    "directory.department_member.user": (_DEPARTMENT, "department_id"),
    "lifecycle.invitation.inviter": (_INVITATION, None),
    "scim.user.manager": (_PERSON, None),  # the row is the person managed
}


def _through(
    session: Session, org_id: uuid.UUID, kind: str, column: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The target each association row names (a mention's post), by the row's id."""
    reference = get_reference(kind)
    if reference is None:
        return {}
    table = Base.metadata.tables[reference.table]
    query = select(table.c.id, table.c[column]).where(table.c.org_id == org_id, table.c.id.in_(list(ids)))
    return {row_id: target_id for row_id, target_id in session.execute(query)}


def describe_moved(
    session: Session, org_id: uuid.UUID, entries: Sequence[AuthorshipEntry]
) -> dict[tuple[str, uuid.UUID], MovedItem]:
    """The item each map row names, by (kind, object id). Every content kind of the reference
    registry is named here (``tests/test_web_people.py`` holds it so)."""
    by_kind: dict[str, set[uuid.UUID]] = {}
    for e in entries:
        if e.kind in _KINDS:
            by_kind.setdefault(e.kind, set()).add(e.object_id)
    # (kind, object id) -> (target, target id); a missing association row names nothing.
    pointed: dict[tuple[str, uuid.UUID], tuple[_Target, uuid.UUID | None]] = {}
    for kind, ids in by_kind.items():
        target, column = _KINDS[kind]
        through = _through(session, org_id, kind, column, ids) if column else {i: i for i in ids}
        for object_id in ids:
            pointed[(kind, object_id)] = (target, through.get(object_id))
    wanted: dict[str, tuple[_Target, set[uuid.UUID]]] = {}
    for target, target_id in pointed.values():
        if target_id is not None:
            wanted.setdefault(target.noun, (target, set()))[1].add(target_id)
    found: dict[str, dict[uuid.UUID, _Found]] = {
        noun: target.load(session, org_id, sorted(ids)) for noun, (target, ids) in wanted.items()
    }
    hidden = {f.hidden_by for per in found.values() for f in per.values() if f.hidden_by is not None}
    trashed = (
        set(session.scalars(select(TrashItem.id).where(TrashItem.org_id == org_id, TrashItem.id.in_(hidden))))
        if hidden
        else set()
    )
    items: dict[tuple[str, uuid.UUID], MovedItem] = {}
    for key, (target, target_id) in pointed.items():
        item = found.get(target.noun, {}).get(target_id) if target_id is not None else None
        if item is None:
            items[key] = MovedItem(target.noun, "", None, GONE)
        elif item.hidden_by is not None:
            state = IN_TRASH if item.hidden_by in trashed else HIDDEN_WITH_ACCOUNT
            items[key] = MovedItem(target.noun, item.title, None, state)
        else:
            href = target.href(target_id) if target.href and target_id is not None else None
            items[key] = MovedItem(target.noun, item.title, href, None)
    return items
