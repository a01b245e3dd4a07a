"""Realistic stream content for the demo organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.stream.models import Comment, Like, Post
from roster.stream.service import add_comment, create_post, like_post


def _pick(users: list[User], first_name: str, fallback: int) -> User:
    for user in users:
        if user.first_name == first_name:
            return user
    return users[fallback % len(users)]


def add_demo_content(session: Session, org_id: uuid.UUID, users: list[User]) -> None:
    """Posts from the last days with comments, likes, mentions, tags and one restricted post."""
    people = [u for u in users if u.org_id == org_id and u.is_active]
    if len(people) < 2:
        return
    ada, john, anna, oyvind = (_pick(people, n, i) for i, n in enumerate(("Ada", "Jöhn", "Anna", "Øyvind")))
    chloe, ravi, mei, lukas = (
        _pick(people, n, i + 4) for i, n in enumerate(("Chloé", "Ravi", "Mei", "Lukas"))
    )
    now = clock.now()

    def backdate(post: Post, hours: float) -> None:
        at = now - timedelta(hours=hours)
        session.execute(update(Post).where(Post.org_id == org_id, Post.id == post.id).values(created_at=at))
        later = at + timedelta(minutes=20)
        session.execute(
            update(Comment)
            .where(Comment.org_id == org_id, Comment.post_id == post.id)
            .values(created_at=later)
        )
        session.execute(
            update(Like).where(Like.org_id == org_id, Like.post_id == post.id).values(created_at=later)
        )

    welcome = create_post(
        session,
        actor=ada,
        body="Welcome to our new intranet! Say hi in the comments and tell us what you are working on this week.",
    )
    add_comment(session, welcome, actor=anna, body="Hi all! Preparing the Northwind renewal this week.")
    add_comment(
        session,
        welcome,
        actor=oyvind,
        body="Finishing the billing migration. Looks great, @Ada Admin!",
        mentions=[ada.id],
    )
    for fan in (john, anna, oyvind, chloe, ravi, mei):
        like_post(session, welcome, actor=fan)
    backdate(welcome, 72)

    deal = create_post(
        session,
        actor=john,
        body="Great quarter, team! Huge thanks to @Anna Jones for closing the Northwind deal.",
        mentions=[anna.id],
    )
    add_comment(session, deal, actor=mei, body="Invoice is out. Well done!")
    for fan in (ada, anna, mei, lukas):
        like_post(session, deal, actor=fan)
    backdate(deal, 50)

    deploy = create_post(
        session,
        actor=oyvind,
        body="The new billing service is live. @Ravi Patel, support can retire the old help article now.",
        mentions=[ravi.id],
    )
    add_comment(
        session, deploy, actor=ravi, body="Done, thanks! Two customers already noticed the faster invoices."
    )
    like_post(session, deploy, actor=ravi)
    backdate(deploy, 26)

    design = create_post(
        session,
        actor=chloe,
        body="The new design system is in Figma. Photos from yesterday's review session attached.",
        tags=[oyvind.id, anna.id],
    )
    like_post(session, design, actor=oyvind)
    backdate(design, 20)

    budget = create_post(
        session,
        actor=mei,
        body="Budget planning for next year: please send your department numbers by Friday.",
        audience=[john.id, ada.id],
    )
    add_comment(session, budget, actor=john, body="Sales numbers will be with you on Thursday.")
    backdate(budget, 8)

    hiring = create_post(
        session,
        actor=lukas,
        body="We are hiring two support engineers. Referrals welcome! @Ravi Patel runs the interviews with me.",
        mentions=[ravi.id],
    )
    like_post(session, hiring, actor=ravi)
    like_post(session, hiring, actor=ada)
    backdate(hiring, 2)
    session.flush()
