"""Direct messages and group chats: chats, their members (with read marks) and messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roster import clock
from roster.db.base import Base, Hideable, TenantMixin
from roster.references import Disposition, Meaning, UserReference, register

KIND_DIRECT = "direct"
KIND_GROUP = "group"


def _user_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", column], ["users.org_id", "users.id"])


def _chat_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", "chat_id"], ["chats.org_id", "chats.id"], ondelete="CASCADE")


class Chat(TenantMixin, Base):
    __tablename__ = "chats"
    __table_args__ = (
        _user_fk("created_by"),
        # One direct chat per pair: "<smaller id>:<larger id>" of the two people who started it.
        # NULL for group chats.
        UniqueConstraint("org_id", "direct_key"),
        Index("ix_chats_created_by", "org_id", "created_by"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200), default="")
    direct_key: Mapped[str | None] = mapped_column(String(80))
    created_by: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_message_at: Mapped[datetime | None] = mapped_column()


class ChatMember(TenantMixin, Hideable, Base):
    __tablename__ = "chat_members"
    __table_args__ = (
        _chat_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "chat_id", "user_id"),
        Index("ix_chat_members_user", "org_id", "user_id"),
    )

    chat_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    joined_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_read_at: Mapped[datetime | None] = mapped_column()


class Message(TenantMixin, Hideable, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        _chat_fk(),
        _user_fk("sender_id"),
        Index("ix_chat_messages_chat", "org_id", "chat_id", "created_at"),
        Index("ix_chat_messages_sender", "org_id", "sender_id"),
    )

    chat_id: Mapped[uuid.UUID] = mapped_column()
    sender_id: Mapped[uuid.UUID] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


register(
    UserReference(
        # Who started a chat is history; handing it to a successor would rewrite it.
        kind="messages.chat.creator",
        table="chats",
        column="created_by",
        label="Chats started",
        meaning=Meaning.CREATOR,
        dispositions=(Disposition.SYSTEM_USER,),
    )
)
register(
    UserReference(
        # A message says who wrote it: moving it to a successor would put words in their mouth.
        kind="messages.message.sender",
        table="chat_messages",
        column="sender_id",
        label="Messages sent",
        meaning=Meaning.SENDER,
        dispositions=(Disposition.SYSTEM_USER, Disposition.DELETE),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="messages.chat_member.user",
        table="chat_members",
        column="user_id",
        label="Chat memberships",
        meaning=Meaning.MEMBER,
        dispositions=(Disposition.SYSTEM_USER, Disposition.DELETE),
        unique_with=("chat_id",),
        hide_column="hidden_by",
    )
)
