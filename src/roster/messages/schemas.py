"""Request and response shapes of direct messages and group chats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from roster.accounts.models import User
from roster.accounts.schemas import UserRef, user_ref
from roster.messages.models import Chat, Message
from roster.messages.service import SENT_LIMIT, ChatPage


class DirectMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_user_id: uuid.UUID
    body: str = Field(max_length=SENT_LIMIT)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=SENT_LIMIT)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=1_000)
    member_ids: list[uuid.UUID] = Field(max_length=1_000)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


class MessageOut(BaseModel):
    id: uuid.UUID
    chat_id: uuid.UUID
    sender: UserRef
    body: str
    created_at: datetime


class MessageList(BaseModel):
    items: list[MessageOut]
    total: int
    # Where a new message goes; a conversation with someone may span several chats (chat_ids).
    chat_id: uuid.UUID | None = None
    chat_ids: list[uuid.UUID] = Field(default_factory=list)


class ChatOut(BaseModel):
    id: uuid.UUID
    kind: Literal["direct", "group"]
    title: str
    created_by: UserRef
    members: list[UserRef]
    unread_count: int
    created_at: datetime
    last_message_at: datetime | None


class ChatList(BaseModel):
    items: list[ChatOut]
    total: int


def message_out(message: Message, senders: dict[uuid.UUID, User], *, show_former_names: bool) -> MessageOut:
    return MessageOut(
        id=message.id,
        chat_id=message.chat_id,
        sender=user_ref(senders[message.sender_id], show_former_names=show_former_names),
        body=message.body,
        created_at=message.created_at,
    )


def chat_out(chat: Chat, page: ChatPage, *, show_former_names: bool) -> ChatOut:
    members = [page.users[i] for i in page.members.get(chat.id, []) if i in page.users]
    return ChatOut(
        id=chat.id,
        kind=chat.kind,  # type: ignore[arg-type]
        title=chat.title,
        created_by=user_ref(page.users[chat.created_by], show_former_names=show_former_names),
        members=[user_ref(u, show_former_names=show_former_names) for u in members],
        unread_count=page.unread.get(chat.id, 0),
        created_at=chat.created_at,
        last_message_at=chat.last_message_at,
    )
