"""Request and response shapes of the stream (API.md, "Intranet content")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from roster.accounts.models import User
from roster.accounts.schemas import UserRef, user_ref
from roster.patches import Patch
from roster.stream.models import Comment, Post
from roster.stream.service import CommentPage, PostPage, render_mentions

# Generous transport limits; the services enforce the real ones with clear codes.
_MAX_TRANSPORT = 50_000
_MAX_PEOPLE = 1_000


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=_MAX_TRANSPORT)
    mentions: list[uuid.UUID] = Field(default_factory=list, max_length=_MAX_PEOPLE)
    audience: list[uuid.UUID] | None = Field(
        default=None,
        max_length=_MAX_PEOPLE,
        description="Who may see the post; omitted or empty means everyone.",
    )
    tags: list[uuid.UUID] = Field(default_factory=list, max_length=_MAX_PEOPLE)


class PostPatch(Patch):
    body: str | None = Field(default=None, max_length=_MAX_TRANSPORT)
    mentions: list[uuid.UUID] | None = Field(default=None, max_length=_MAX_PEOPLE)
    audience: list[uuid.UUID] | None = Field(
        default=None, max_length=_MAX_PEOPLE, description="An empty list opens the post to everyone."
    )
    tags: list[uuid.UUID] | None = Field(default=None, max_length=_MAX_PEOPLE)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=_MAX_TRANSPORT)
    mentions: list[uuid.UUID] = Field(default_factory=list, max_length=_MAX_PEOPLE)


class PostOut(BaseModel):
    id: uuid.UUID
    author: UserRef
    body: str = Field(description="The text with every mention rendered as @Name.")
    body_markup: str = Field(description="The text with mentions as @[user id], the form to send back.")
    mentions: list[UserRef]
    tags: list[UserRef]
    visibility: Literal["everyone", "people"]
    audience: list[UserRef]
    created_at: datetime
    edited_at: datetime | None
    like_count: int
    liked_by_me: bool
    comment_count: int


class PostList(BaseModel):
    items: list[PostOut]
    total: int


class CommentOut(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    author: UserRef
    body: str
    body_markup: str
    mentions: list[UserRef]
    created_at: datetime
    edited_at: datetime | None


class CommentList(BaseModel):
    items: list[CommentOut]
    total: int


def _refs(ids: list[uuid.UUID], users: dict[uuid.UUID, User], show: bool) -> list[UserRef]:
    return [user_ref(users[i], show_former_names=show) for i in ids if i in users]


def _named(ids: list[uuid.UUID], users: dict[uuid.UUID, User]) -> list[uuid.UUID]:
    """The people a mention or tag names. The System User holds a deleted person's mentions and
    tags (so a restore gives them back) but names nobody: such a mention reads "@Former
    employee", as one whose row the deletion hid, and such a tag is not listed."""
    return [i for i in ids if i in users and not users[i].is_system]


def post_out(post: Post, page: PostPage, *, show_former_names: bool) -> PostOut:
    """A post as the API shows it, from a page loaded by ``load_post_page``."""
    rows = page.mentions.get(post.id, [])
    visible = _named([r.user_id for r in rows if not r.hidden], page.users)
    mention_refs = _refs(visible, page.users, show_former_names)
    names = {ref.id: ref.display_name for ref in mention_refs}
    body, markup = render_mentions(post.body, rows, names)
    return PostOut(
        id=post.id,
        author=user_ref(page.users[post.author_id], show_former_names=show_former_names),
        body=body,
        body_markup=markup,
        mentions=mention_refs,
        tags=_refs(_named(page.tags.get(post.id, []), page.users), page.users, show_former_names),
        visibility=post.audience,  # type: ignore[arg-type]
        audience=_refs(page.audience.get(post.id, []), page.users, show_former_names),
        created_at=post.created_at,
        edited_at=post.edited_at,
        like_count=page.like_counts.get(post.id, 0),
        liked_by_me=post.id in page.liked,
        comment_count=page.comment_counts.get(post.id, 0),
    )


def comment_out(comment: Comment, page: CommentPage, *, show_former_names: bool) -> CommentOut:
    """A comment as the API shows it, from a page loaded by ``load_comment_page``."""
    rows = page.mentions.get(comment.id, [])
    visible = _named([r.user_id for r in rows if not r.hidden], page.users)
    mention_refs = _refs(visible, page.users, show_former_names)
    body, markup = render_mentions(comment.body, rows, {r.id: r.display_name for r in mention_refs})
    return CommentOut(
        id=comment.id,
        post_id=comment.post_id,
        author=user_ref(page.users[comment.author_id], show_former_names=show_former_names),
        body=body,
        body_markup=markup,
        mentions=mention_refs,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )
