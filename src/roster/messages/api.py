"""The messages API: direct messages and group chats (API.md, "Intranet content").

``GET /messages/with/{user_id}`` is the caller's whole conversation with that person: the
messages of every direct chat the two share (more than one after a duplicate account was merged
into one of them), newest first, with
``chat_ids`` naming those chats and ``chat_id`` the one new messages go to (the oldest; ``POST
/messages`` always writes there). Reading it marks all of them read. Nothing is joined, so
restoring a merged duplicate takes its conversations back. The System User is not a person: it
holds the conversations of colleagues who were deleted, each its own, so asking for "the
conversation with the System User" is refused (409 ``not_a_person``); read those by chat id
(``GET /chats`` lists them, ``GET /chats/{chat_id}/messages`` reads one).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, CurrentUser, Principal
from roster.locations import set_location
from roster.messages import service
from roster.messages.models import Chat, Message
from roster.messages.schemas import (
    ChatIn,
    ChatList,
    ChatOut,
    DirectMessageIn,
    MemberIn,
    MessageIn,
    MessageList,
    MessageOut,
    chat_out,
    message_out,
)

router = APIRouter(tags=["messages"])

PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]


def _show(session: Session, principal: Principal) -> bool:
    return principal.organization(session).show_former_employee_names


def _messages_out(session: Session, principal: Principal, messages: list[Message]) -> list[MessageOut]:
    senders = service.load_senders(session, principal.org_id, messages)
    show = _show(session, principal)
    return [message_out(m, senders, show_former_names=show) for m in messages]


def _chats_out(session: Session, principal: Principal, chats: list[Chat]) -> list[ChatOut]:
    page = service.load_chat_page(session, principal.org_id, chats, viewer=principal.user)
    show = _show(session, principal)
    return [chat_out(c, page, show_former_names=show) for c in chats]


@router.post("/messages", response_model=MessageOut, status_code=status.HTTP_201_CREATED)
def send_direct_message(body: DirectMessageIn, principal: CurrentUser, session: DB) -> MessageOut:
    """Message one person (422 ``inactive_user`` when they are not active)."""
    message = service.send_direct_message(
        session, actor=principal.user, to_user_id=body.to_user_id, body=body.body
    )
    return _messages_out(session, principal, [message])[0]


@router.get("/messages/with/{user_id}", response_model=MessageList)
def get_direct_conversation(
    user_id: uuid.UUID, principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50
) -> MessageList:
    """The caller's direct conversation with a person: every direct chat they share, newest first;
    reading marks it read (409 ``not_a_person`` for the System User)."""
    conversation = service.get_direct_conversation(
        session, principal.org_id, viewer=principal.user, other_id=user_id, page=page, per_page=per_page
    )
    chat = conversation.chat
    return MessageList(
        items=_messages_out(session, principal, conversation.messages),
        total=conversation.total,
        chat_id=chat.id if chat else None,
        chat_ids=[c.id for c in conversation.chats],
    )


@router.get("/chats", response_model=ChatList)
def list_chats(principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50) -> ChatList:
    """The caller's chats, most recently active first, with unread counts."""
    chats, total = service.list_chats(
        session, principal.org_id, viewer=principal.user, page=page, per_page=per_page
    )
    return ChatList(items=_chats_out(session, principal, chats), total=total)


@router.post("/chats", response_model=ChatOut, status_code=status.HTTP_201_CREATED)
def create_group_chat(
    body: ChatIn, request: Request, response: Response, principal: CurrentUser, session: DB
) -> ChatOut:
    """Start a group chat with active people."""
    chat = service.create_group_chat(
        session, actor=principal.user, title=body.title, member_ids=body.member_ids
    )
    set_location(request, response, f"/chats/{chat.id}")
    return _chats_out(session, principal, [chat])[0]


@router.get("/chats/{chat_id}", response_model=ChatOut)
def get_chat(chat_id: uuid.UUID, principal: CurrentUser, session: DB) -> ChatOut:
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    return _chats_out(session, principal, [chat])[0]


@router.get("/chats/{chat_id}/messages", response_model=MessageList)
def list_chat_messages(
    chat_id: uuid.UUID, principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50
) -> MessageList:
    """A chat's messages, newest first; reading marks the chat read."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    messages, total = service.list_messages(
        session, chat, viewer=principal.user, page=page, per_page=per_page
    )
    return MessageList(
        items=_messages_out(session, principal, messages), total=total, chat_id=chat.id, chat_ids=[chat.id]
    )


@router.post("/chats/{chat_id}/messages", response_model=MessageOut, status_code=status.HTTP_201_CREATED)
def send_message(chat_id: uuid.UUID, body: MessageIn, principal: CurrentUser, session: DB) -> MessageOut:
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    message = service.send_message(session, chat, actor=principal.user, body=body.body)
    return _messages_out(session, principal, [message])[0]


@router.post("/chats/{chat_id}/members", response_model=ChatOut)
def add_chat_member(chat_id: uuid.UUID, body: MemberIn, principal: CurrentUser, session: DB) -> ChatOut:
    """A member adds an active person to a group chat."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    service.add_chat_member(session, chat, actor=principal.user, user_id=body.user_id)
    return _chats_out(session, principal, [chat])[0]


@router.delete("/chats/{chat_id}/members/{member_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_chat_member(
    chat_id: uuid.UUID, member_id: uuid.UUID, principal: CurrentUser, session: DB
) -> Response:
    """Leave a group chat, or remove someone from a chat you started."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    service.remove_chat_member(session, chat, actor=principal.user, member_id=member_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
