"""Posts, comments, likes, mentions, tags and who may see what. Services never commit.

Mentions in text. A client writes a person into a body either as ``@[<user id>]`` or as
``@<display name>`` of someone in the ``mentions`` list. Both are stored as ``@[<mention row id>]``
and rendered from the mention row when read: the text shows whoever the row points at now (the
person, marked dismissed or "Former employee"; the System User or successor after a deletion;
"Former employee" when the row is hidden), and an erased name is never stored in a body.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from roster import clock
from roster.accounts.models import User
from roster.accounts.service import inactive_user, load_users_to_reference
from roster.domain import errors
from roster.domain.text import clean_text
from roster.domain.users import UserStatus
from roster.ids import new_id
from roster.stream.models import (
    AUDIENCE_EVERYONE,
    AUDIENCE_PEOPLE,
    Comment,
    CommentMention,
    Like,
    Post,
    PostAudience,
    PostMention,
    PostTag,
)
from roster.trash.models import TrashItem
from roster.trash.service import move_to_trash

BODY_LIMIT = 10_000
COMMENT_LIMIT = 5_000
PEOPLE_LIMIT = 200  # mentions, tags or audience members on one post

TOKEN_RE = re.compile(r"@\[([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\]")


# --- people ---------------------------------------------------------------------------------


def require_active_users(
    session: Session, org_id: uuid.UUID, user_ids: Iterable[uuid.UUID], *, fields: FieldIds = ()
) -> dict[uuid.UUID, User]:
    """Every id as an active user of the organization, in one query.

    Unknown ids and other organizations' ids are UnknownUser (422); dismissed, deleted and System
    users are InactiveUser (422). Meant for ids inside a request body: ``fields`` says which of
    its fields holds which ids, and a refusal names the first field holding the id it is about.
    """
    wanted = set(user_ids)
    if not wanted:
        return {}
    found = load_users_to_reference(session, org_id, wanted)  # locked against a racing deletion
    missing = sorted(str(i) for i in wanted - set(found))
    if missing:
        raise errors.UnknownUser(
            f"No user {missing[0]} in this organization.",
            user_id=missing[0],
            user_ids=missing,
            field=_field_holding(uuid.UUID(missing[0]), fields),
        )
    inactive = sorted((u for u in found.values() if not u.is_active), key=lambda u: str(u.id))
    if inactive:
        raise inactive_user(
            inactive[0], user_ids=[str(u.id) for u in inactive], field=_field_holding(inactive[0].id, fields)
        )
    return found


# A request's fields naming people, in the order a refusal looks for the one at fault.
FieldIds = Sequence[tuple[str, Collection[uuid.UUID]]]


def _field_holding(user_id: uuid.UUID, fields: FieldIds) -> str | None:
    return next((name for name, ids in fields if user_id in ids), None)


def load_users(session: Session, org_id: uuid.UUID, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, User]:
    """The users with these ids (any status), in one query: for rendering a page of content."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.org_id == org_id, User.id.in_(wanted)))}


def _check_count(ids: Sequence[uuid.UUID], field_name: str) -> None:
    if len(set(ids)) > PEOPLE_LIMIT:
        raise errors.ValidationFailed(f"At most {PEOPLE_LIMIT} people in {field_name}.", field=field_name)


# --- mention text ---------------------------------------------------------------------------


def token_user_ids(text: str) -> list[uuid.UUID]:
    """The user ids written into a client's text as ``@[<user id>]``."""
    return [uuid.UUID(m) for m in TOKEN_RE.findall(text)]


def tokenize_mentions(text: str, rows: dict[uuid.UUID, uuid.UUID], users: dict[uuid.UUID, User]) -> str:
    """Client text to stored text: ``@[user id]`` and ``@Display Name`` become ``@[row id]``.

    ``rows`` maps each mentioned user's id to its mention row id.
    """

    def by_id(match: re.Match[str]) -> str:
        row = rows.get(uuid.UUID(match.group(1)))
        return f"@[{row}]" if row else match.group(0)

    text = TOKEN_RE.sub(by_id, text)
    named = sorted((users[uid] for uid in rows if uid in users), key=lambda u: -len(u.display_name))
    for user in named:
        if user.display_name:
            pattern = re.compile("@" + re.escape(user.display_name) + r"(?!\w)")
            text = pattern.sub(f"@[{rows[user.id]}]", text)  # a uuid: no backslashes or group refs
    return text


@dataclass(frozen=True)
class MentionRow:
    id: uuid.UUID
    user_id: uuid.UUID
    hidden: bool


def render_mentions(
    stored: str,
    rows: Sequence[MentionRow],
    names: dict[uuid.UUID, str],
    *,
    keep: set[uuid.UUID] | None = None,
) -> tuple[str, str]:
    """Stored text to (plain text, markup): each placeholder becomes the row's current person.

    ``names`` gives the display name to show per user id. Hidden rows show "Former employee" and
    carry no id. Markup writes visible mentions as ``@[<user id>]``, the form clients send back;
    with ``keep``, people outside it are written as plain ``@Name`` (a mention being removed).
    """
    from roster.accounts.schemas import FORMER_EMPLOYEE

    by_row = {r.id: r for r in rows}
    plain: list[str] = []
    markup: list[str] = []
    last = 0
    for match in TOKEN_RE.finditer(stored):
        row = by_row.get(uuid.UUID(match.group(1)))
        if row is None:
            continue
        plain.append(stored[last : match.start()])
        markup.append(stored[last : match.start()])
        if row.hidden or row.user_id not in names:
            plain.append("@" + FORMER_EMPLOYEE)
            markup.append("@" + FORMER_EMPLOYEE)
        else:
            plain.append("@" + names[row.user_id])
            kept = keep is None or row.user_id in keep
            markup.append(f"@[{row.user_id}]" if kept else "@" + names[row.user_id])
        last = match.end()
    plain.append(stored[last:])
    markup.append(stored[last:])
    return "".join(plain), "".join(markup)


EXCERPT_LENGTH = 120


def excerpt_with_mentions(
    session: Session,
    org_id: uuid.UUID,
    bodies: dict[uuid.UUID, str],
    mentions: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
) -> dict[uuid.UUID, str]:
    """The start of each stored text (by its post's or comment's id), with the people it mentions
    named: ``mentions`` are (mention row id, user id, the text's id), hidden ones included (the
    text is listed in the trash, where its mentions are hidden with it)."""
    rows: dict[uuid.UUID, list[MentionRow]] = {}
    for row_id, user_id, owner_id in mentions:
        rows.setdefault(owner_id, []).append(MentionRow(row_id, user_id, hidden=False))
    people = load_users(session, org_id, {m.user_id for found in rows.values() for m in found})
    names = {
        u.id: u.display_name
        for u in people.values()
        if u.status != UserStatus.DELETED.value and not u.is_system  # the System User names nobody
    }
    excerpts = {}
    for text_id, stored in bodies.items():
        plain, _ = render_mentions(stored, rows.get(text_id, []), names)
        plain = " ".join(plain.split())
        excerpts[text_id] = plain if len(plain) <= EXCERPT_LENGTH else plain[: EXCERPT_LENGTH - 1] + "…"
    return excerpts


# --- visibility -----------------------------------------------------------------------------


def visible_posts_clause(org_id: uuid.UUID, viewer_id: uuid.UUID) -> ColumnElement[bool]:
    """Posts the viewer may see: not hidden, and for everyone, or theirs, or addressed to them."""
    addressed = exists(
        select(PostAudience.id).where(
            PostAudience.org_id == Post.org_id,
            PostAudience.post_id == Post.id,
            PostAudience.user_id == viewer_id,
            PostAudience.hidden_by.is_(None),
        )
    )
    return and_(
        Post.org_id == org_id,
        Post.hidden_by.is_(None),
        or_(Post.audience == AUDIENCE_EVERYONE, Post.author_id == viewer_id, addressed),
    )


def can_see_post(session: Session, post: Post, viewer_id: uuid.UUID) -> bool:
    """Whether the viewer may see the post."""
    return (
        session.scalar(
            select(Post.id).where(visible_posts_clause(post.org_id, viewer_id), Post.id == post.id)
        )
        is not None
    )


def get_post(session: Session, org_id: uuid.UUID, post_id: uuid.UUID, *, viewer: User) -> Post:
    """A post the viewer may see, or NotFound (hidden, not addressed to them, other organization)."""
    post = session.scalar(select(Post).where(visible_posts_clause(org_id, viewer.id), Post.id == post_id))
    if post is None:
        raise errors.NotFound("No such post.")
    return post


def list_stream(
    session: Session, org_id: uuid.UUID, *, viewer: User, page: int = 1, per_page: int = 50
) -> tuple[list[Post], int]:
    """The viewer's stream, newest first: a page of posts and the total they may see."""
    clause = visible_posts_clause(org_id, viewer.id)
    total = session.scalar(select(func.count()).select_from(Post).where(clause)) or 0
    posts = session.scalars(
        select(Post)
        .where(clause)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(posts), total


# --- association rows (mentions, tags, audience) --------------------------------------------


def _visible_rows(
    session: Session, model: type[PostMention] | type[PostTag] | type[PostAudience], post: Post
) -> dict[uuid.UUID, uuid.UUID]:
    rows = session.execute(
        select(model.user_id, model.id).where(
            model.org_id == post.org_id, model.post_id == post.id, model.hidden_by.is_(None)
        )
    )
    return {user_id: row_id for user_id, row_id in rows}


def _sync_rows(
    session: Session,
    model: type[PostMention] | type[PostTag] | type[PostAudience],
    post: Post,
    wanted: set[uuid.UUID],
) -> dict[uuid.UUID, uuid.UUID]:
    """Make the post's visible rows of ``model`` exactly ``wanted``; hidden rows stay as they are
    (a deletion's restore brings them back). Returns user id -> row id."""
    current = _visible_rows(session, model, post)
    gone = [row for user_id, row in current.items() if user_id not in wanted]
    if gone:
        session.execute(delete(model).where(model.org_id == post.org_id, model.id.in_(gone)))
    result = {user_id: row for user_id, row in current.items() if user_id in wanted}
    for user_id in sorted(wanted - set(current), key=str):
        row_id = new_id()
        session.add(model(org_id=post.org_id, id=row_id, post_id=post.id, user_id=user_id))
        result[user_id] = row_id
    return result


# --- who may change what -------------------------------------------------------------------


def can_edit_post(actor: User, post: Post) -> bool:
    """Whether the actor may change the post's text and people: only its author."""
    return post.author_id == actor.id


def can_delete_post(actor: User, post: Post) -> bool:
    """Whether the actor may move the post to the trash: its author or an admin."""
    return post.author_id == actor.id or actor.is_admin


def can_delete_comment(actor: User, post: Post, comment: Comment) -> bool:
    """Whether the actor may move the comment to the trash: its author, the post's author or an
    admin."""
    return actor.id in (comment.author_id, post.author_id) or actor.is_admin


def require_can_edit_post(actor: User, post: Post) -> None:
    """Forbidden (403) unless the actor may edit the post."""
    if not can_edit_post(actor, post):
        raise errors.Forbidden("Only the author may edit a post.")


# --- posts ----------------------------------------------------------------------------------


def create_post(
    session: Session,
    *,
    actor: User,
    body: str,
    mentions: Sequence[uuid.UUID] = (),
    audience: Sequence[uuid.UUID] | None = None,
    tags: Sequence[uuid.UUID] = (),
) -> Post:
    """Publish a post. Mentioned, tagged and addressed people must be active; with an audience,
    mentioned and tagged people join it (so they can read what names them)."""
    text = clean_text(body, field="body", limit=BODY_LIMIT)
    mention_ids = set(mentions) | set(token_user_ids(text))
    audience_ids = set(audience or ())
    for ids, name in ((mention_ids, "mentions"), (set(tags), "tags"), (audience_ids, "audience")):
        _check_count(list(ids), name)
    users = require_active_users(
        session,
        actor.org_id,
        mention_ids | set(tags) | audience_ids,
        fields=(("mentions", mention_ids), ("tags", set(tags)), ("audience", audience_ids)),
    )

    post = Post(
        org_id=actor.org_id,
        id=new_id(),
        author_id=actor.id,
        body="",
        audience=AUDIENCE_PEOPLE if audience_ids else AUDIENCE_EVERYONE,
        created_at=clock.now(),
    )
    session.add(post)
    session.flush()
    rows = _sync_rows(session, PostMention, post, mention_ids)
    _sync_rows(session, PostTag, post, set(tags))
    if audience_ids:
        _sync_rows(session, PostAudience, post, (audience_ids | mention_ids | set(tags)) - {actor.id})
    post.body = tokenize_mentions(text, rows, users)
    session.flush()
    return post


def edit_post(
    session: Session,
    post: Post,
    *,
    actor: User,
    body: str | None = None,
    mentions: Sequence[uuid.UUID] | None = None,
    audience: Sequence[uuid.UUID] | None = None,
    tags: Sequence[uuid.UUID] | None = None,
) -> Post:
    """The author changes a post. Only people newly named must be active: a dismissed colleague
    mentioned before stays mentioned when the author fixes a typo."""
    require_can_edit_post(actor, post)
    current_mentions = _visible_rows(session, PostMention, post)
    current_tags = _visible_rows(session, PostTag, post)
    current_audience = _visible_rows(session, PostAudience, post)

    if body is None:
        current = [MentionRow(row, user, False) for user, row in current_mentions.items()]
        names = {u.id: u.display_name for u in load_users(session, post.org_id, current_mentions).values()}
        keep = None if mentions is None else set(mentions)
        source = render_mentions(post.body, current, names, keep=keep)[1]
    else:
        source = body
    text = clean_text(source, field="body", limit=BODY_LIMIT)
    mention_ids = set(current_mentions if mentions is None else mentions) | set(token_user_ids(text))
    tag_ids = set(current_tags if tags is None else tags)
    if audience is None:
        restricted = post.audience == AUDIENCE_PEOPLE
        audience_ids = set(current_audience)
    else:
        # As on a new post: an audience of the author alone keeps the post to them.
        audience_ids = set(audience) - {post.author_id}
        restricted = bool(set(audience))
    for ids, name in ((mention_ids, "mentions"), (tag_ids, "tags"), (audience_ids, "audience")):
        _check_count(list(ids), name)
    newly_named = (
        ("mentions", mention_ids - set(current_mentions)),
        ("tags", tag_ids - set(current_tags)),
        ("audience", audience_ids - set(current_audience)),
    )
    require_active_users(
        session, post.org_id, set().union(*(ids for _, ids in newly_named)), fields=newly_named
    )
    users = load_users(session, post.org_id, mention_ids)

    rows = _sync_rows(session, PostMention, post, mention_ids)
    _sync_rows(session, PostTag, post, tag_ids)
    wanted = audience_ids | ((mention_ids | tag_ids) - {actor.id}) if restricted else set()
    _sync_rows(session, PostAudience, post, wanted)
    post.audience = AUDIENCE_PEOPLE if restricted else AUDIENCE_EVERYONE
    post.body = tokenize_mentions(text, rows, users)
    post.edited_at = clock.now()
    session.flush()
    return post


def delete_post(session: Session, post: Post, *, actor: User) -> TrashItem:
    """The author or an admin moves a post to the trash, with its comments, likes, mentions, tags
    and audience; it can be restored until the organization's restore window ends."""
    if not can_delete_post(actor, post):
        raise errors.Forbidden("Only the author or an administrator may delete a post.")
    item = move_to_trash(session, "post", org_id=post.org_id, object_id=post.id, actor=actor)
    session.expunge(post)
    return item


def get_post_for_admin(session: Session, org_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    """Any post of the organization that is not hidden (moderation), or NotFound."""
    post = session.scalar(
        select(Post).where(Post.org_id == org_id, Post.id == post_id, Post.hidden_by.is_(None))
    )
    if post is None:
        raise errors.NotFound("No such post.")
    return post


# --- likes ----------------------------------------------------------------------------------


def like_post(session: Session, post: Post, *, actor: User) -> None:
    """Like a post; liking twice is the same as once."""
    found = session.scalar(
        select(Like.id).where(Like.org_id == post.org_id, Like.post_id == post.id, Like.user_id == actor.id)
    )
    if found is None:
        try:
            with session.begin_nested():
                session.add(
                    Like(org_id=post.org_id, post_id=post.id, user_id=actor.id, created_at=clock.now())
                )
                session.flush()
        except IntegrityError:
            pass  # a concurrent request by the same person liked it a moment ago


def unlike_post(session: Session, post: Post, *, actor: User) -> None:
    """Take a like back; nothing happens when there was none."""
    session.execute(
        delete(Like).where(
            Like.org_id == post.org_id,
            Like.post_id == post.id,
            Like.user_id == actor.id,
            Like.hidden_by.is_(None),
        )
    )


# --- comments -------------------------------------------------------------------------------


def add_comment(
    session: Session, post: Post, *, actor: User, body: str, mentions: Sequence[uuid.UUID] = ()
) -> Comment:
    """Comment on a post the actor can see. Mentioned people must be active and able to see it."""
    text = clean_text(body, field="body", limit=COMMENT_LIMIT)
    mention_ids = set(mentions) | set(token_user_ids(text))
    _check_count(list(mention_ids), "mentions")
    users = require_active_users(session, actor.org_id, mention_ids, fields=(("mentions", mention_ids),))
    outside = sorted(
        (u for u in users.values() if not can_see_post(session, post, u.id)), key=lambda u: str(u.id)
    )
    if outside:
        raise errors.NotInAudience(
            f"{outside[0].display_name} cannot see this post, so cannot be mentioned on it.",
            user_id=str(outside[0].id),
        )
    comment = Comment(
        org_id=actor.org_id, id=new_id(), post_id=post.id, author_id=actor.id, body="", created_at=clock.now()
    )
    session.add(comment)
    session.flush()
    rows: dict[uuid.UUID, uuid.UUID] = {}
    for user_id in sorted(mention_ids, key=str):
        row_id = new_id()
        session.add(CommentMention(org_id=actor.org_id, id=row_id, comment_id=comment.id, user_id=user_id))
        rows[user_id] = row_id
    comment.body = tokenize_mentions(text, rows, users)
    session.flush()
    return comment


def get_comment(session: Session, post: Post, comment_id: uuid.UUID) -> Comment:
    """A visible comment of the post, or NotFound."""
    comment = session.scalar(
        select(Comment).where(
            Comment.org_id == post.org_id,
            Comment.post_id == post.id,
            Comment.id == comment_id,
            Comment.hidden_by.is_(None),
        )
    )
    if comment is None:
        raise errors.NotFound("No such comment.")
    return comment


def delete_comment(session: Session, post: Post, comment: Comment, *, actor: User) -> TrashItem:
    """The comment's author, the post's author or an admin moves a comment to the trash."""
    if not can_delete_comment(actor, post, comment):
        raise errors.Forbidden(
            "Only the comment's author, the post's author or an administrator may delete it."
        )
    item = move_to_trash(session, "comment", org_id=comment.org_id, object_id=comment.id, actor=actor)
    session.expunge(comment)
    return item


def list_comments(
    session: Session, post: Post, *, page: int = 1, per_page: int = 50
) -> tuple[list[Comment], int]:
    """A post's visible comments, oldest first, and their total."""
    clause = and_(Comment.org_id == post.org_id, Comment.post_id == post.id, Comment.hidden_by.is_(None))
    total = session.scalar(select(func.count()).select_from(Comment).where(clause)) or 0
    comments = session.scalars(
        select(Comment)
        .where(clause)
        .order_by(Comment.created_at, Comment.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(comments), total


def list_comments_of_posts(
    session: Session, posts: Sequence[Post], *, per_post: int = 50
) -> dict[uuid.UUID, list[Comment]]:
    """The first ``per_post`` visible comments of each post, oldest first, in one query."""
    if not posts:
        return {}
    org_id = posts[0].org_id
    rank = (
        func.row_number()
        .over(partition_by=Comment.post_id, order_by=(Comment.created_at, Comment.id))
        .label("rank")
    )
    ranked = (
        select(Comment.id, rank)
        .where(
            Comment.org_id == org_id,
            Comment.post_id.in_([p.id for p in posts]),
            Comment.hidden_by.is_(None),
        )
        .subquery()
    )
    comments = session.scalars(
        select(Comment)
        .join(ranked, (Comment.org_id == org_id) & (Comment.id == ranked.c.id))
        .where(ranked.c.rank <= per_post)
        .order_by(Comment.created_at, Comment.id)
    )
    grouped: dict[uuid.UUID, list[Comment]] = {p.id: [] for p in posts}
    for comment in comments:
        grouped[comment.post_id].append(comment)
    return grouped


# --- reading a page at once -----------------------------------------------------------------


@dataclass
class PostPage:
    """Everything needed to render a page of posts, loaded in a fixed number of queries."""

    mentions: dict[uuid.UUID, list[MentionRow]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))
    audience: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))
    like_counts: dict[uuid.UUID, int] = field(default_factory=dict)
    comment_counts: dict[uuid.UUID, int] = field(default_factory=dict)
    liked: set[uuid.UUID] = field(default_factory=set)
    users: dict[uuid.UUID, User] = field(default_factory=dict)


def load_post_page(session: Session, org_id: uuid.UUID, posts: Sequence[Post], *, viewer: User) -> PostPage:
    """Mentions, tags, audience, counts and every referenced user of these posts (no N+1)."""
    page = PostPage()
    ids = [p.id for p in posts]
    if not ids:
        return page
    for row in session.execute(
        select(PostMention.post_id, PostMention.id, PostMention.user_id, PostMention.hidden_by)
        .where(PostMention.org_id == org_id, PostMention.post_id.in_(ids))
        .order_by(PostMention.id)
    ):
        page.mentions[row.post_id].append(MentionRow(row.id, row.user_id, row.hidden_by is not None))
    for model, target in ((PostTag, page.tags), (PostAudience, page.audience)):
        for post_id, user_id in session.execute(
            select(model.post_id, model.user_id)
            .where(model.org_id == org_id, model.post_id.in_(ids), model.hidden_by.is_(None))
            .order_by(model.id)
        ):
            target[post_id].append(user_id)
    page.like_counts = {
        post_id: count
        for post_id, count in session.execute(
            select(Like.post_id, func.count())
            .where(Like.org_id == org_id, Like.post_id.in_(ids), Like.hidden_by.is_(None))
            .group_by(Like.post_id)
        )
    }
    page.comment_counts = {
        post_id: count
        for post_id, count in session.execute(
            select(Comment.post_id, func.count())
            .where(Comment.org_id == org_id, Comment.post_id.in_(ids), Comment.hidden_by.is_(None))
            .group_by(Comment.post_id)
        )
    }
    page.liked = set(
        session.scalars(
            select(Like.post_id).where(
                Like.org_id == org_id,
                Like.post_id.in_(ids),
                Like.user_id == viewer.id,
                Like.hidden_by.is_(None),
            )
        )
    )
    wanted: set[uuid.UUID] = {p.author_id for p in posts}
    for rows in page.mentions.values():
        wanted |= {r.user_id for r in rows if not r.hidden}
    for people in (*page.tags.values(), *page.audience.values()):
        wanted |= set(people)
    page.users = load_users(session, org_id, wanted)
    return page


@dataclass
class CommentPage:
    mentions: dict[uuid.UUID, list[MentionRow]] = field(default_factory=lambda: defaultdict(list))
    users: dict[uuid.UUID, User] = field(default_factory=dict)


def load_comment_page(session: Session, org_id: uuid.UUID, comments: Sequence[Comment]) -> CommentPage:
    """Mentions and every referenced user of these comments, in two queries."""
    page = CommentPage()
    ids = [c.id for c in comments]
    if not ids:
        return page
    for row in session.execute(
        select(CommentMention.comment_id, CommentMention.id, CommentMention.user_id, CommentMention.hidden_by)
        .where(CommentMention.org_id == org_id, CommentMention.comment_id.in_(ids))
        .order_by(CommentMention.id)
    ):
        page.mentions[row.comment_id].append(MentionRow(row.id, row.user_id, row.hidden_by is not None))
    wanted = {c.author_id for c in comments}
    for rows in page.mentions.values():
        wanted |= {r.user_id for r in rows if not r.hidden}
    page.users = load_users(session, org_id, wanted)
    return page
