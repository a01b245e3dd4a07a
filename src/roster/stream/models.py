"""The activity stream: posts, their audience, comments, likes, mentions and tags.

Mentions are structured references (``stream_post_mentions``, ``stream_comment_mentions``): the
stored body carries a placeholder ``@[<mention row id>]`` where the client wrote the person, and
the text is rendered from the row at read time, so a moved or hidden reference changes the text
too (an erased person's name never sits in a stored body).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Table, Text, UniqueConstraint, and_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from roster import clock
from roster.db.base import Base, Hideable, TenantMixin
from roster.references import Disposition, Meaning, UserReference, register
from roster.trash.registry import Part, TrashKind
from roster.trash.registry import register as register_trash

AUDIENCE_EVERYONE = "everyone"
AUDIENCE_PEOPLE = "people"


def _user_fk(column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", column], ["users.org_id", "users.id"])


def _post_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["org_id", "post_id"], ["stream_posts.org_id", "stream_posts.id"], ondelete="CASCADE"
    )


class Post(TenantMixin, Hideable, Base):
    __tablename__ = "stream_posts"
    __table_args__ = (
        _user_fk("author_id"),
        Index("ix_stream_posts_org_created", "org_id", "created_at"),
        Index("ix_stream_posts_author", "org_id", "author_id"),
    )

    author_id: Mapped[uuid.UUID] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(20), default=AUDIENCE_EVERYONE)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    edited_at: Mapped[datetime | None] = mapped_column()


class PostAudience(TenantMixin, Hideable, Base):
    """The chosen people who may see a post whose audience is ``people``."""

    __tablename__ = "stream_post_audience"
    __table_args__ = (
        _post_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "post_id", "user_id"),
        Index("ix_stream_post_audience_user", "org_id", "user_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()


class PostMention(TenantMixin, Hideable, Base):
    __tablename__ = "stream_post_mentions"
    __table_args__ = (
        _post_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "post_id", "user_id"),
        Index("ix_stream_post_mentions_user", "org_id", "user_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()


class PostTag(TenantMixin, Hideable, Base):
    """A person tagged on a post (in a photo, at an event): not a mention in the text."""

    __tablename__ = "stream_post_tags"
    __table_args__ = (
        _post_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "post_id", "user_id"),
        Index("ix_stream_post_tags_user", "org_id", "user_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()


class Comment(TenantMixin, Hideable, Base):
    __tablename__ = "stream_comments"
    __table_args__ = (
        _post_fk(),
        _user_fk("author_id"),
        Index("ix_stream_comments_post", "org_id", "post_id", "created_at"),
        Index("ix_stream_comments_author", "org_id", "author_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column()
    author_id: Mapped[uuid.UUID] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    edited_at: Mapped[datetime | None] = mapped_column()


class CommentMention(TenantMixin, Hideable, Base):
    __tablename__ = "stream_comment_mentions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "comment_id"], ["stream_comments.org_id", "stream_comments.id"], ondelete="CASCADE"
        ),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "comment_id", "user_id"),
        Index("ix_stream_comment_mentions_user", "org_id", "user_id"),
    )

    comment_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()


class Like(TenantMixin, Hideable, Base):
    __tablename__ = "stream_likes"
    __table_args__ = (
        _post_fk(),
        _user_fk("user_id"),
        UniqueConstraint("org_id", "post_id", "user_id"),
        Index("ix_stream_likes_user", "org_id", "user_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


_WRITTEN = (Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE)
_ASSOCIATION = (Disposition.SYSTEM_USER, Disposition.DELETE)

register(
    UserReference(
        kind="stream.post.author",
        table="stream_posts",
        column="author_id",
        label="Posts written",
        meaning=Meaning.AUTHOR,
        dispositions=_WRITTEN,
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="stream.comment.author",
        table="stream_comments",
        column="author_id",
        label="Comments written",
        meaning=Meaning.AUTHOR,
        dispositions=_WRITTEN,
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="stream.like.user",
        table="stream_likes",
        column="user_id",
        label="Likes given",
        meaning=Meaning.LIKE,
        dispositions=_ASSOCIATION,
        unique_with=("post_id",),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="stream.post.mention",
        table="stream_post_mentions",
        column="user_id",
        label="Mentions in posts",
        meaning=Meaning.MENTION,
        dispositions=_ASSOCIATION,
        unique_with=("post_id",),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="stream.comment.mention",
        table="stream_comment_mentions",
        column="user_id",
        label="Mentions in comments",
        meaning=Meaning.MENTION,
        dispositions=_ASSOCIATION,
        unique_with=("comment_id",),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        kind="stream.post.tag",
        table="stream_post_tags",
        column="user_id",
        label="Tagged on posts",
        meaning=Meaning.TAG,
        dispositions=_ASSOCIATION,
        unique_with=("post_id",),
        hide_column="hidden_by",
    )
)
register(
    UserReference(
        # A successor may take over what the person was shown (a handover of their reading list).
        kind="stream.post.audience",
        table="stream_post_audience",
        column="user_id",
        label="Posts addressed to them",
        meaning=Meaning.RECIPIENT,
        dispositions=_WRITTEN,
        unique_with=("post_id",),
        hide_column="hidden_by",
    )
)


# --- the trash ------------------------------------------------------------------------------

_POSTS: Table = Post.__table__  # type: ignore[assignment]
_COMMENTS: Table = Comment.__table__  # type: ignore[assignment]
_COMMENT_MENTIONS: Table = CommentMention.__table__  # type: ignore[assignment]


def _of_post(model: type[Base]) -> Part:
    table: Table = model.__table__  # type: ignore[assignment]
    return Part(table, lambda org_id, post_id: (table.c.org_id == org_id, table.c.post_id == post_id))


def _excerpts(
    table: Table, mentions: Table, text_key: str
) -> Callable[[Session, uuid.UUID, Sequence[uuid.UUID]], dict[uuid.UUID, str]]:
    """The start of each post's or comment's text, people's names in place of their mentions."""

    def describe(session: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        from roster.stream.service import excerpt_with_mentions

        bodies = dict(
            session.execute(
                select(table.c.id, table.c.body).where(table.c.org_id == org_id, table.c.id.in_(ids))
            ).all()
        )
        rows = session.execute(
            select(mentions.c.id, mentions.c.user_id, mentions.c[text_key]).where(
                mentions.c.org_id == org_id, mentions.c[text_key].in_(ids)
            )
        ).all()
        return excerpt_with_mentions(session, org_id, bodies, rows)

    return describe


def _post_is_deleted(session: Session, org_id: uuid.UUID, comment_id: uuid.UUID) -> str | None:
    hidden = session.scalar(
        select(_POSTS.c.hidden_by)
        .join(_COMMENTS, and_(_COMMENTS.c.org_id == _POSTS.c.org_id, _COMMENTS.c.post_id == _POSTS.c.id))
        .where(_COMMENTS.c.org_id == org_id, _COMMENTS.c.id == comment_id)
    )
    return None if hidden is None else "The post it was written on is deleted: restore the post first."


register_trash(
    TrashKind(
        name="post",
        label="Post",
        table=_POSTS,
        owner_column="author_id",
        dependents=(
            _of_post(Comment),
            Part(
                _COMMENT_MENTIONS,
                lambda org_id, post_id: (
                    _COMMENT_MENTIONS.c.org_id == org_id,
                    _COMMENT_MENTIONS.c.comment_id.in_(
                        select(_COMMENTS.c.id).where(
                            _COMMENTS.c.org_id == org_id, _COMMENTS.c.post_id == post_id
                        )
                    ),
                ),
            ),
            _of_post(Like),
            _of_post(PostMention),
            _of_post(PostTag),
            _of_post(PostAudience),
        ),
        describe=_excerpts(_POSTS, PostMention.__table__, "post_id"),  # type: ignore[arg-type]
    )
)
register_trash(
    TrashKind(
        name="comment",
        label="Comment",
        table=_COMMENTS,
        owner_column="author_id",
        dependents=(
            Part(
                _COMMENT_MENTIONS,
                lambda org_id, comment_id: (
                    _COMMENT_MENTIONS.c.org_id == org_id,
                    _COMMENT_MENTIONS.c.comment_id == comment_id,
                ),
            ),
        ),
        describe=_excerpts(_COMMENTS, _COMMENT_MENTIONS, "comment_id"),
        blocked=_post_is_deleted,
    )
)
