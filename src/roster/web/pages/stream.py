"""The stream: posts with mentions, tags, an audience, comments and likes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.accounts.models import User
from roster.accounts.schemas import FORMER_EMPLOYEE, UserRef
from roster.domain import errors
from roster.stream import service
from roster.stream.models import AUDIENCE_EVERYONE, AUDIENCE_PEOPLE, Post
from roster.stream.schemas import PostOut, comment_out, post_out
from roster.web.core import WebUser, page_count, parse_uuid, redirect, render
from roster.web.pages.shared import authorship_notes, picker_people
from roster.web.pages.trash import deleted_already, moved_to_trash

router = APIRouter(include_in_schema=False)

PER_PAGE = 20


def segments(markup: str, people: list[UserRef]) -> list[dict[str, Any]]:
    """Text and mentions, in order: the template escapes the text and links each person."""
    by_id = {str(p.id): p for p in people}
    parts: list[dict[str, Any]] = []
    last = 0
    for match in service.TOKEN_RE.finditer(markup):
        parts.append({"text": markup[last : match.start()]})
        person = by_id.get(match.group(1).lower())
        parts.append({"person": person} if person else {"text": "@" + match.group(1)})
        last = match.end()
    parts.append({"text": markup[last:]})
    return parts


def _ids(values: list[str]) -> list[uuid.UUID]:
    return [u for u in (parse_uuid(v) for v in values) if u is not None]


@dataclass(frozen=True)
class Choices:
    """The people a post's form names, as ids in text: what the pickers show selected, and what a
    refused form shows again. ``visibility`` is "everyone" or "people" (then ``audience`` says who);
    "" leaves a post's audience as it is."""

    mentions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    visibility: str = AUDIENCE_EVERYONE
    audience: list[str] = field(default_factory=list)


def _choices(mentions: list[str], tags: list[str], visibility: str, audience: list[str]) -> Choices:
    def text(values: list[str]) -> list[str]:
        return list(dict.fromkeys(str(i) for i in _ids(values)))

    return Choices(text(mentions), text(tags), visibility.strip(), text(audience))


def _audience(choices: Choices, actor: User) -> list[uuid.UUID] | None:
    """The audience a form asks for: [] for everyone, the chosen people (the author sees their own
    post anyway), or None to leave it as it is. Only chosen people, but nobody chosen, is refused
    rather than published to everyone."""
    if not choices.visibility:
        return None
    if choices.visibility == AUDIENCE_EVERYONE:
        return []
    if choices.visibility != AUDIENCE_PEOPLE:
        raise errors.ValidationFailed("Choose who can see the post.", field="visibility")
    people = [i for i in _ids(choices.audience) if i != actor.id]
    if not people:
        raise errors.ValidationFailed(
            "Choose the people who can see the post, or let everyone see it.", field="audience"
        )
    return people


def _people(choices: Choices, actor: User) -> dict[str, Any]:
    """The people a post's form names, as ``create_post`` and ``edit_post`` take them."""
    return {
        "mentions": _ids(choices.mentions),
        "tags": _ids(choices.tags),
        "audience": _audience(choices, actor),
    }


PICKERS = ("tags", "audience", "visibility")


def _refused_field(exc: errors.RosterError) -> str:
    """The form field a refusal is about: the picker it names (the service names the field that
    holds a person it refuses), else the text."""
    named = exc.extra.get("field")
    return str(named) if named in PICKERS else "body"


def _offered(active: list[User], kept: list[UserRef]) -> list[User | UserRef]:
    """A picker's people: the active ones, and after them the ``kept`` ones already on the post who
    have left since, so that saving the form keeps them."""
    listed = {p.id for p in active}
    return [*active, *(ref for ref in kept if ref.id not in listed)]


def stream_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    page: int = 1,
    error: str = "",
    draft: str = "",
    choices: Choices | None = None,
    refused: str = "",
    status_code: int = 200,
) -> Response:
    org = principal.organization(session)
    posts, total = service.list_stream(
        session, principal.org_id, viewer=principal.user, page=page, per_page=PER_PAGE
    )
    loaded = service.load_post_page(session, principal.org_id, posts, viewer=principal.user)
    # Comments of the whole page in a fixed number of queries, however many posts it shows.
    comments_of = service.list_comments_of_posts(session, posts, per_post=50)
    cpage = service.load_comment_page(
        session, principal.org_id, [c for cs in comments_of.values() for c in cs]
    )
    items: list[dict[str, Any]] = []
    for post in posts:
        out: PostOut = post_out(post, loaded, show_former_names=org.show_former_employee_names)
        comment_items = []
        for comment in comments_of[post.id]:
            cout = comment_out(comment, cpage, show_former_names=org.show_former_employee_names)
            comment_items.append(
                {
                    "out": cout,
                    "segments": segments(cout.body_markup, cout.mentions),
                    "may_delete": service.can_delete_comment(principal.user, post, comment),
                }
            )
        items.append(
            {
                "out": out,
                "segments": segments(out.body_markup, out.mentions),
                "comments": comment_items,
                "may_edit": service.can_edit_post(principal.user, post),
                "may_delete": service.can_delete_post(principal.user, post),
            }
        )
    notes = authorship_notes(session, principal, "stream.post.author", [p.id for p in posts])
    comment_notes = authorship_notes(
        session, principal, "stream.comment.author", [c.id for cs in comments_of.values() for c in cs]
    )
    return render(
        request,
        "intranet/stream.html",
        {
            "section": "stream",
            "items": items,
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "error": error,
            "draft": draft,
            "choices": choices or Choices(),
            "field_errors": {refused: error} if refused in PICKERS else {},
            "picker_people": picker_people(session, principal),
            "notes": notes,
            "comment_notes": comment_notes,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/stream")
def stream(request: Request, principal: WebUser, session: DB, page: int = 1) -> Response:
    return stream_page(request, principal, session, page=max(1, min(page, 100_000)))


@router.post("/stream/posts")
def create_post(
    request: Request,
    principal: WebUser,
    session: DB,
    body: Annotated[str, Form(max_length=50_000)] = "",
    mentions: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    tags: Annotated[list[str], Form()] = [],  # noqa: B006
    visibility: Annotated[str, Form(max_length=20)] = AUDIENCE_EVERYONE,
    audience: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Publish a post, for everyone or for chosen people; the people it names with @, tags or is
    for must be active. A refusal keeps what was typed and chosen."""
    choices = _choices(mentions, tags, visibility, audience)
    try:
        with session.begin_nested():
            service.create_post(session, actor=principal.user, body=body, **_people(choices, principal.user))
    except errors.RosterError as exc:
        return stream_page(
            request,
            principal,
            session,
            error=exc.detail,
            draft=body,
            choices=choices,
            refused=_refused_field(exc),
            status_code=exc.status,
        )
    return redirect("/stream", request, "Your post is published.")


def _post(session: Session, principal: Principal, post_id: uuid.UUID) -> Post:
    return service.get_post(session, principal.org_id, post_id, viewer=principal.user)


@router.post("/stream/posts/{post_id}/comments")
def add_comment(
    request: Request,
    principal: WebUser,
    session: DB,
    post_id: uuid.UUID,
    body: Annotated[str, Form(max_length=50_000)] = "",
    mentions: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    """Comment on a post; people picked with @ are mentioned."""
    post = _post(session, principal, post_id)
    try:
        with session.begin_nested():
            service.add_comment(session, post, actor=principal.user, body=body, mentions=_ids(mentions))
    except errors.RosterError as exc:
        return redirect(f"/stream#post-{post_id}", request, exc.detail, "error")
    return redirect(f"/stream#post-{post_id}", request, "Comment added.")


@router.post("/stream/posts/{post_id}/like")
def like(
    request: Request,
    principal: WebUser,
    session: DB,
    post_id: uuid.UUID,
    action: Annotated[str, Form(max_length=10)] = "like",
) -> Response:
    post = _post(session, principal, post_id)
    if action == "unlike":
        service.unlike_post(session, post, actor=principal.user)
    else:
        service.like_post(session, post, actor=principal.user)
    return redirect(f"/stream#post-{post_id}")


@router.post("/stream/posts/{post_id}/delete")
def delete_post(request: Request, principal: WebUser, session: DB, post_id: uuid.UUID) -> Response:
    try:
        post = _post(session, principal, post_id)
    except errors.NotFound as exc:
        return deleted_already(request, session, principal.user, "post", post_id, "/stream", exc)
    try:
        with session.begin_nested():
            item = service.delete_post(session, post, actor=principal.user)
    except errors.RosterError as exc:
        return redirect("/stream", request, exc.detail, "error")
    return moved_to_trash(request, item, "The post", "/stream")


@router.post("/stream/posts/{post_id}/comments/{comment_id}/delete")
def delete_comment(
    request: Request, principal: WebUser, session: DB, post_id: uuid.UUID, comment_id: uuid.UUID
) -> Response:
    """Move a comment to the trash; the message after it has an Undo that brings it back."""
    post = _post(session, principal, post_id)
    back = f"/stream#post-{post_id}"
    try:
        comment = service.get_comment(session, post, comment_id)
    except errors.NotFound as exc:
        return deleted_already(request, session, principal.user, "comment", comment_id, back, exc)
    try:
        with session.begin_nested():
            item = service.delete_comment(session, post, comment, actor=principal.user)
    except errors.RosterError as exc:
        return redirect(back, request, exc.detail, "error")
    return moved_to_trash(request, item, "The comment", back)


def editable_text(out: PostOut) -> str:
    """A post's text for its edit form, each mention written "@Name" as the new-post form writes
    it. A mention shown as "Former employee", or whose name another mentioned person shares, stays
    ``@[<user id>]``: saving the text as it is keeps it on the same person."""
    names = [ref.display_name for ref in out.mentions]
    by_id = {str(ref.id): ref for ref in out.mentions}

    def named(match: re.Match[str]) -> str:
        ref = by_id.get(match.group(1).lower())
        if ref is None or ref.display_name in ("", FORMER_EMPLOYEE) or names.count(ref.display_name) > 1:
            return match.group(0)
        return "@" + ref.display_name

    return service.TOKEN_RE.sub(named, out.body_markup)


def post_edit_page(
    request: Request,
    principal: Principal,
    session: Session,
    post: Post,
    *,
    body: str | None = None,
    choices: Choices | None = None,
    error: str = "",
    refused: str = "body",
    status_code: int = 200,
) -> Response:
    """The edit form of a post: its text and people (or what was typed and chosen)."""
    org = principal.organization(session)
    loaded = service.load_post_page(session, principal.org_id, [post], viewer=principal.user)
    out = post_out(post, loaded, show_former_names=org.show_former_employee_names)
    if body is None:
        body = editable_text(out)
    if choices is None:
        choices = Choices(
            mentions=[str(ref.id) for ref in out.mentions],
            tags=[str(ref.id) for ref in out.tags],
            visibility=out.visibility,
            audience=[str(ref.id) for ref in out.audience],
        )
    elif not choices.visibility:
        choices = Choices(choices.mentions, choices.tags, out.visibility, choices.audience)
    # People named before stay offered (and so stay named) even if they have left since.
    active = picker_people(session, principal)
    return render(
        request,
        "intranet/post_edit.html",
        {
            "section": "stream",
            "post": out,
            "body": body,
            "choices": choices,
            "error": error if refused == "body" else "",
            "field_errors": {refused: error} if error and refused in PICKERS else {},
            "mention_people": _offered(active, out.mentions),
            "tag_people": _offered(active, out.tags),
            "audience_people": _offered(active, out.audience),
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


def _editable_post(session: Session, principal: Principal, post_id: uuid.UUID) -> Post:
    post = _post(session, principal, post_id)
    service.require_can_edit_post(principal.user, post)
    return post


@router.get("/stream/posts/{post_id}/edit")
def edit_post_form(request: Request, principal: WebUser, session: DB, post_id: uuid.UUID) -> Response:
    return post_edit_page(request, principal, session, _editable_post(session, principal, post_id))


@router.post("/stream/posts/{post_id}/edit")
def edit_post(
    request: Request,
    principal: WebUser,
    session: DB,
    post_id: uuid.UUID,
    body: Annotated[str, Form(max_length=50_000)] = "",
    mentions: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    tags: Annotated[list[str], Form()] = [],  # noqa: B006
    visibility: Annotated[str, Form(max_length=20)] = "",
    audience: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Change a post's text, the people it mentions and tags, and who can see it (left as it is
    when the form does not say); a refusal keeps what was typed and chosen."""
    post = _editable_post(session, principal, post_id)
    choices = _choices(mentions, tags, visibility, audience)
    try:
        with session.begin_nested():
            service.edit_post(
                session, post, actor=principal.user, body=body, **_people(choices, principal.user)
            )
    except errors.RosterError as exc:
        return post_edit_page(
            request,
            principal,
            session,
            post,
            body=body,
            choices=choices,
            error=exc.detail,
            refused=_refused_field(exc),
            status_code=exc.status,
        )
    return redirect(f"/stream#post-{post_id}", request, "The post is saved.")
