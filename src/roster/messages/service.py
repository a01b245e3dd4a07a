"""Direct messages and group chats. Only members see a chat; services never commit.

A direct chat is found by its two members (so a merged account's conversations are found under
the account they moved to); ``direct_key`` keeps two concurrent first messages from opening two
chats for one pair.

Two people may share more than one direct chat: merging a duplicate account into someone moves
the duplicate's conversations to them beside their own, and a transfer can hand a deleted
person's conversations to a colleague who already had one. Nothing is joined, so restoring the
duplicate takes its conversations back. Their conversation (``get_direct_conversation``, what
``GET /messages/with/{user_id}`` and the page ``/messages/with/{user_id}`` show) is every direct
chat they share, read as one, in time order, and reading it marks all of them read; a new message
always goes to the oldest of them (``find_direct_chat``).

The System User is not a person to converse with: a deletion moves each deleted person's place in
their conversations to it, so it holds the conversations of several former colleagues, each its
own. Read together they would run into one another, so they are read one by one, by chat id
(``GET /chats/{chat_id}/messages``, the page ``/messages/chats/{chat_id}``), and asking for "the
conversation with the System User" is refused (409 ``not_a_person``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.domain import errors
from roster.domain.text import clean_text
from roster.ids import new_id
from roster.messages.models import KIND_DIRECT, KIND_GROUP, Chat, ChatMember, Message
from roster.stream.service import load_users, require_active_users

BODY_LIMIT = 10_000
# A message as sent may be longer than BODY_LIMIT before it is cleaned (line breaks sent as two
# characters, spaces trimmed at the ends), but not by this much: longer is refused unread.
SENT_LIMIT = 50_000
TITLE_LIMIT = 200
MEMBER_LIMIT = 500


def _direct_key(a: uuid.UUID, b: uuid.UUID) -> str:
    low, high = sorted((str(a), str(b)))
    return f"{low}:{high}"


def _membership(session: Session, chat: Chat, user_id: uuid.UUID) -> ChatMember | None:
    return session.scalar(
        select(ChatMember).where(
            ChatMember.org_id == chat.org_id,
            ChatMember.chat_id == chat.id,
            ChatMember.user_id == user_id,
            ChatMember.hidden_by.is_(None),
        )
    )


def get_membership_id(session: Session, chat: Chat, user_id: uuid.UUID) -> uuid.UUID | None:
    """The id of someone's membership row in a chat (the authorship map names a place by it)."""
    member = _membership(session, chat, user_id)
    return member.id if member is not None else None


def list_member_ids(session: Session, chat: Chat) -> list[uuid.UUID]:
    """The chat's current members, in the order they joined."""
    return list(
        session.scalars(
            select(ChatMember.user_id)
            .where(
                ChatMember.org_id == chat.org_id,
                ChatMember.chat_id == chat.id,
                ChatMember.hidden_by.is_(None),
            )
            .order_by(ChatMember.joined_at, ChatMember.id)
        )
    )


def get_chat(session: Session, org_id: uuid.UUID, chat_id: uuid.UUID, *, viewer: User) -> Chat:
    """A chat the viewer is a member of, or NotFound (for everyone else, admins included)."""
    chat = session.scalar(
        select(Chat)
        .join(
            ChatMember,
            and_(
                ChatMember.org_id == Chat.org_id,
                ChatMember.chat_id == Chat.id,
                ChatMember.user_id == viewer.id,
                ChatMember.hidden_by.is_(None),
            ),
        )
        .where(Chat.org_id == org_id, Chat.id == chat_id)
    )
    if chat is None:
        raise errors.NotFound("No such chat.")
    return chat


def _direct_chats_of(org_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> Select[Chat]:
    first, second = aliased(ChatMember), aliased(ChatMember)
    return (
        select(Chat)
        .join(
            first,
            and_(
                first.org_id == Chat.org_id,
                first.chat_id == Chat.id,
                first.user_id == a,
                first.hidden_by.is_(None),
            ),
        )
        .join(
            second,
            and_(
                second.org_id == Chat.org_id,
                second.chat_id == Chat.id,
                second.user_id == b,
                second.hidden_by.is_(None),
            ),
        )
        .where(Chat.org_id == org_id, Chat.kind == KIND_DIRECT)
        .order_by(Chat.created_at, Chat.id)
    )


def find_direct_chat(session: Session, org_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> Chat | None:
    """The oldest direct chat whose current members are these two people, if there is one: where
    their new messages go."""
    return session.scalar(_direct_chats_of(org_id, a, b).limit(1))


def list_direct_chats(session: Session, org_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> list[Chat]:
    """Every direct chat these two people are current members of, oldest first (more than one
    after a merge or a transfer brought another one's conversation to one of them)."""
    return list(session.scalars(_direct_chats_of(org_id, a, b)))


def _add_member(session: Session, chat: Chat, user_id: uuid.UUID) -> ChatMember:
    member = ChatMember(
        org_id=chat.org_id, id=new_id(), chat_id=chat.id, user_id=user_id, joined_at=clock.now()
    )
    session.add(member)
    return member


def _post(session: Session, chat: Chat, *, actor: User, text: str) -> Message:
    now = clock.now()
    message = Message(
        org_id=chat.org_id, id=new_id(), chat_id=chat.id, sender_id=actor.id, body=text, created_at=now
    )
    session.add(message)
    chat.last_message_at = now
    mine = _membership(session, chat, actor.id)
    if mine is not None:
        mine.last_read_at = now  # what you write yourself is read
    session.flush()
    return message


def _open_direct_chat(session: Session, *, actor: User, recipient: User) -> Chat:
    """A new direct chat for the pair; when a concurrent first message opened it a moment ago
    (the unique ``direct_key``), that one."""
    key = _direct_key(actor.id, recipient.id)
    chat = Chat(
        org_id=actor.org_id,
        id=new_id(),
        kind=KIND_DIRECT,
        title="",
        direct_key=key,
        created_by=actor.id,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(chat)
            session.flush()
            _add_member(session, chat, actor.id)
            _add_member(session, chat, recipient.id)
            session.flush()
    except IntegrityError:
        existing = find_direct_chat(session, actor.org_id, actor.id, recipient.id)
        if existing is None:
            raise
        return existing
    return chat


def _clean_body(body: str) -> str:
    if len(body) > SENT_LIMIT:
        raise errors.TextTooLong(
            f"The body is {len(body)} characters long; the limit is {BODY_LIMIT}.",
            field="body",
            limit=BODY_LIMIT,
        )
    return clean_text(body, field="body", limit=BODY_LIMIT)


def send_direct_message(session: Session, *, actor: User, to_user_id: uuid.UUID, body: str) -> Message:
    """Send a message to one person, opening the direct chat on the first one."""
    text = _clean_body(body)
    if to_user_id == actor.id:
        raise errors.ValidationFailed("You cannot send a direct message to yourself.", field="to_user_id")
    recipient = require_active_users(
        session, actor.org_id, [to_user_id], fields=(("to_user_id", {to_user_id}),)
    )[to_user_id]
    chat = find_direct_chat(session, actor.org_id, actor.id, recipient.id)
    if chat is None:
        chat = _open_direct_chat(session, actor=actor, recipient=recipient)
    return _post(session, chat, actor=actor, text=text)


def create_group_chat(session: Session, *, actor: User, title: str, member_ids: Sequence[uuid.UUID]) -> Chat:
    """Start a group chat with the actor and these active people."""
    clean_title = clean_text(title, field="title", limit=TITLE_LIMIT, multiline=False, allow_empty=True)
    others = set(member_ids) - {actor.id}
    if not others:
        raise errors.ValidationFailed("Add at least one other person to a group chat.", field="member_ids")
    if len(others) > MEMBER_LIMIT:
        raise errors.ValidationFailed(f"A group chat has at most {MEMBER_LIMIT} members.", field="member_ids")
    require_active_users(session, actor.org_id, others, fields=(("member_ids", others),))
    chat = Chat(
        org_id=actor.org_id,
        id=new_id(),
        kind=KIND_GROUP,
        title=clean_title,
        direct_key=None,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(chat)
    session.flush()
    _add_member(session, chat, actor.id).last_read_at = chat.created_at
    for user_id in sorted(others, key=str):
        _add_member(session, chat, user_id)
    session.flush()
    return chat


def send_message(session: Session, chat: Chat, *, actor: User, body: str) -> Message:
    """Post into a chat the actor belongs to; a direct chat needs the other person still active."""
    text = _clean_body(body)
    if chat.kind == KIND_DIRECT:
        others = [i for i in list_member_ids(session, chat) if i != actor.id]
        if not others:
            raise errors.InactiveUser("The other person of this conversation is no longer here.")
        require_active_users(session, chat.org_id, others)
    return _post(session, chat, actor=actor, text=text)


def _list_messages(
    session: Session, org_id: uuid.UUID, chat_ids: Sequence[uuid.UUID], *, page: int, per_page: int
) -> tuple[list[Message], int]:
    clause = and_(Message.org_id == org_id, Message.chat_id.in_(chat_ids), Message.hidden_by.is_(None))
    total = session.scalar(select(func.count()).select_from(Message).where(clause)) or 0
    messages = list(
        session.scalars(
            select(Message)
            .where(clause)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return messages, total


def list_messages(
    session: Session, chat: Chat, *, viewer: User, page: int = 1, per_page: int = 50, mark_read: bool = True
) -> tuple[list[Message], int]:
    """A chat's messages, newest first, and their total; reading marks the chat read."""
    messages, total = _list_messages(session, chat.org_id, [chat.id], page=page, per_page=per_page)
    if mark_read:
        mark_chat_read(session, chat, viewer=viewer)
    return messages, total


def mark_chat_read(session: Session, chat: Chat, *, viewer: User) -> None:
    """Everything in the chat up to now counts as read by the viewer."""
    member = _membership(session, chat, viewer.id)
    if member is None or chat.last_message_at is None:
        return
    if member.last_read_at is None or member.last_read_at < chat.last_message_at:
        # Only write when something is unread: reading stays a read on a quiet chat.
        member.last_read_at = clock.now()
        session.flush()


@dataclass
class DirectConversation:
    """What the viewer and another person said to each other, in every direct chat they share.

    ``chat`` is where a new message goes (the oldest of ``chats``; None before the first one).
    """

    chat: Chat | None
    chats: list[Chat]
    messages: list[Message]
    total: int


def get_direct_conversation(
    session: Session,
    org_id: uuid.UUID,
    *,
    viewer: User,
    other_id: uuid.UUID,
    page: int = 1,
    per_page: int = 50,
) -> DirectConversation:
    """The viewer's direct conversation with another user (any status: history stays readable):
    the messages of every direct chat they share, newest first; reading marks them all read.
    NotAPerson for the System User, whose chats are each a different former colleague's."""
    other = accounts.get_user(session, org_id, other_id)
    if other.is_system:
        raise errors.NotAPerson(
            "The System User holds the conversations of colleagues who were deleted, each its own: "
            "open them one by one by their chat id."
        )
    chats = list_direct_chats(session, org_id, viewer.id, other.id) if other.id != viewer.id else []
    if not chats:
        return DirectConversation(chat=None, chats=[], messages=[], total=0)
    messages, total = _list_messages(session, org_id, [c.id for c in chats], page=page, per_page=per_page)
    for chat in chats:
        mark_chat_read(session, chat, viewer=viewer)
    return DirectConversation(chat=chats[0], chats=chats, messages=messages, total=total)


def add_chat_member(session: Session, chat: Chat, *, actor: User, user_id: uuid.UUID) -> None:
    """A member adds an active person to a group chat; adding a member again changes nothing."""
    if chat.kind != KIND_GROUP:
        raise errors.NotAGroupChat(
            "A direct conversation has exactly two people; start a group chat instead."
        )
    require_active_users(session, chat.org_id, [user_id], fields=(("user_id", {user_id}),))
    if _membership(session, chat, user_id) is not None:
        return
    if len(list_member_ids(session, chat)) >= MEMBER_LIMIT + 1:
        raise errors.ValidationFailed(f"A group chat has at most {MEMBER_LIMIT} members.", field="user_id")
    _add_member(session, chat, user_id)
    session.flush()


def can_remove_chat_member(chat: Chat, *, actor: User, member: User) -> bool:
    """Anyone may leave a group chat; only the person who started it removes others; nobody removes
    the System User, which keeps deleted members' places (restoring them puts them back)."""
    if chat.kind != KIND_GROUP or member.is_system:
        return False
    return member.id == actor.id or chat.created_by == actor.id


def remove_chat_member(session: Session, chat: Chat, *, actor: User, member_id: uuid.UUID) -> None:
    """Leave a group chat, or (as the one who started it) remove someone from it."""
    if chat.kind != KIND_GROUP:
        raise errors.NotAGroupChat("Nobody can leave a direct conversation.")
    member = _membership(session, chat, member_id)
    if member is None:
        raise errors.NotFound("No such member of this chat.")
    user = accounts.get_user(session, chat.org_id, member_id)
    if user.is_system:
        raise errors.SystemUserImmutable(
            "The System User keeps the place of members who were deleted, so that restoring them "
            "puts them back in the chat; it cannot be removed."
        )
    if not can_remove_chat_member(chat, actor=actor, member=user):
        raise errors.Forbidden("Only the person who started the chat may remove others.")
    session.execute(delete(ChatMember).where(ChatMember.org_id == member.org_id, ChatMember.id == member.id))
    session.expunge(member)


def list_chats(
    session: Session, org_id: uuid.UUID, *, viewer: User, page: int = 1, per_page: int = 50
) -> tuple[list[Chat], int]:
    """The viewer's chats, most recently active first, and their total."""
    mine = and_(
        ChatMember.org_id == Chat.org_id,
        ChatMember.chat_id == Chat.id,
        ChatMember.user_id == viewer.id,
        ChatMember.hidden_by.is_(None),
    )
    total = (
        session.scalar(
            select(func.count()).select_from(Chat).join(ChatMember, mine).where(Chat.org_id == org_id)
        )
        or 0
    )
    chats = session.scalars(
        select(Chat)
        .join(ChatMember, mine)
        .where(Chat.org_id == org_id)
        .order_by(func.coalesce(Chat.last_message_at, Chat.created_at).desc(), Chat.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(chats), total


@dataclass
class ChatPage:
    """Members, unread counts and referenced users of a page of chats, in three queries.

    ``membership_ids`` names each membership row by (chat id, user id): the authorship map knows
    a deleted person's place in a chat by it."""

    members: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))
    membership_ids: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = field(default_factory=dict)
    unread: dict[uuid.UUID, int] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)


def count_unread(
    session: Session, org_id: uuid.UUID, chat_ids: Sequence[uuid.UUID], *, viewer: User
) -> dict[uuid.UUID, int]:
    """Per chat, the messages by others newer than the viewer's read mark."""
    if not chat_ids:
        return {}
    rows = session.execute(
        select(Message.chat_id, func.count())
        .join(
            ChatMember,
            and_(
                ChatMember.org_id == Message.org_id,
                ChatMember.chat_id == Message.chat_id,
                ChatMember.user_id == viewer.id,
                ChatMember.hidden_by.is_(None),
            ),
        )
        .where(
            Message.org_id == org_id,
            Message.chat_id.in_(chat_ids),
            Message.hidden_by.is_(None),
            Message.sender_id != viewer.id,
            (ChatMember.last_read_at.is_(None)) | (Message.created_at > ChatMember.last_read_at),
        )
        .group_by(Message.chat_id)
    )
    return {chat_id: int(count) for chat_id, count in rows}


def load_chat_page(session: Session, org_id: uuid.UUID, chats: Sequence[Chat], *, viewer: User) -> ChatPage:
    """Everything needed to render these chats for the viewer."""
    page = ChatPage()
    ids = [c.id for c in chats]
    if not ids:
        return page
    for member_id, chat_id, user_id in session.execute(
        select(ChatMember.id, ChatMember.chat_id, ChatMember.user_id)
        .where(ChatMember.org_id == org_id, ChatMember.chat_id.in_(ids), ChatMember.hidden_by.is_(None))
        .order_by(ChatMember.joined_at, ChatMember.id)
    ):
        page.members[chat_id].append(user_id)
        page.membership_ids[(chat_id, user_id)] = member_id
    page.unread = count_unread(session, org_id, ids, viewer=viewer)
    wanted = {c.created_by for c in chats}
    for members in page.members.values():
        wanted |= set(members)
    page.users = load_users(session, org_id, wanted)
    return page


def load_senders(session: Session, org_id: uuid.UUID, messages: Sequence[Message]) -> dict[uuid.UUID, User]:
    """The senders of a page of messages, in one query."""
    return load_users(session, org_id, {m.sender_id for m in messages})
