"""Realistic direct messages and a group chat for the demo organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.messages.models import Chat, ChatMember, Message
from roster.messages.service import create_group_chat, send_direct_message, send_message


def _pick(users: list[User], first_name: str, fallback: int) -> User:
    for user in users:
        if user.first_name == first_name:
            return user
    return users[fallback % len(users)]


def add_demo_content(session: Session, org_id: uuid.UUID, users: list[User]) -> None:
    """Two direct conversations and a group chat, spread over the last hours, some left unread."""
    people = [u for u in users if u.org_id == org_id and u.is_active]
    if len(people) < 3:
        return
    ada, john, anna, oyvind = (_pick(people, n, i) for i, n in enumerate(("Ada", "Jöhn", "Anna", "Øyvind")))
    chloe, ravi = _pick(people, "Chloé", 4), _pick(people, "Ravi", 5)
    start = clock.now() - timedelta(hours=6)
    sent: list[Message] = []

    sent.append(
        send_direct_message(
            session, actor=john, to_user_id=anna.id, body="Do you have the Northwind contract?"
        )
    )
    sent.append(
        send_direct_message(session, actor=anna, to_user_id=john.id, body="Yes, signed copy is in the drive.")
    )
    sent.append(send_direct_message(session, actor=john, to_user_id=anna.id, body="Perfect, thank you!"))
    sent.append(
        send_direct_message(
            session, actor=ravi, to_user_id=oyvind.id, body="Are invoices still slow for you?"
        )
    )
    sent.append(
        send_direct_message(
            session, actor=oyvind, to_user_id=ravi.id, body="Not since this morning's deploy."
        )
    )
    sent.append(
        send_direct_message(
            session, actor=anna, to_user_id=ada.id, body="Could you add Lukas to the sales channel?"
        )
    )

    launch = create_group_chat(
        session, actor=chloe, title="Spring launch", member_ids=[oyvind.id, anna.id, ada.id]
    )
    for author, text in (
        (chloe, "Kick-off tomorrow at 10:00 in the big room."),
        (oyvind, "I will demo the billing flow."),
        (anna, "Two customers want early access; can we include them?"),
        (ada, "Yes, let's invite both."),
    ):
        sent.append(send_message(session, launch, actor=author, body=text))

    # Spread the history over the afternoon; everyone has read up to the middle of it.
    for n, message in enumerate(sent):
        at = start + timedelta(minutes=17 * n)
        session.execute(
            update(Message).where(Message.org_id == org_id, Message.id == message.id).values(created_at=at)
        )
        session.execute(
            update(Chat).where(Chat.org_id == org_id, Chat.id == message.chat_id).values(last_message_at=at)
        )
    middle = start + timedelta(minutes=17 * len(sent) // 2)
    session.execute(update(ChatMember).where(ChatMember.org_id == org_id).values(last_read_at=middle))
    session.execute(update(Chat).where(Chat.org_id == org_id).values(created_at=start - timedelta(minutes=5)))
    session.flush()
