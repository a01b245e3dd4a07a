"""The stream: posts with mentions, comments and likes."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.accounts.schemas import FORMER_EMPLOYEE, UserRef
from roster.domain import errors
from roster.stream import service
from roster.stream.models import Post
from roster.stream.schemas import PostOut, comment_out, post_out
from roster.web.core import WebUser, page_count, parse_uuid, redirect, render
from roster.web.pages.shared import authorship_notes, picker_people
from roster.web.pages.trash import moved_to_trash

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


def stream_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    page: int = 1,
    error: str = "",
    draft: str = "",
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
) -> Response:
    """Publish a post; people named with @ must be active."""
    try:
        with session.begin_nested():
            service.create_post(session, actor=principal.user, body=body, mentions=_ids(mentions))
    except errors.RosterError as exc:
        return stream_page(request, principal, session, error=exc.detail, draft=body, status_code=exc.status)
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
    post = _post(session, principal, post_id)
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
    comment = service.get_comment(session, post, comment_id)
    back = f"/stream#post-{post_id}"
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
    mentions: list[str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The edit form of a post: its text (or what was typed), and the people it mentions."""
    org = principal.organization(session)
    loaded = service.load_post_page(session, principal.org_id, [post], viewer=principal.user)
    out = post_out(post, loaded, show_former_names=org.show_former_employee_names)
    if body is None:
        body = editable_text(out)
    if mentions is None:
        mentions = [str(ref.id) for ref in out.mentions]
    # People mentioned before stay offered (and so stay mentioned) even if they have left since.
    offered: list[Any] = picker_people(session, principal)
    listed = {p.id for p in offered}
    offered += [ref for ref in out.mentions if ref.id not in listed]
    return render(
        request,
        "intranet/post_edit.html",
        {
            "section": "stream",
            "post": out,
            "body": body,
            "mentions": mentions,
            "error": error,
            "mention_people": offered,
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
) -> Response:
    """Change a post's text and the people it mentions; a refusal keeps what was typed."""
    post = _editable_post(session, principal, post_id)
    try:
        with session.begin_nested():
            service.edit_post(session, post, actor=principal.user, body=body, mentions=_ids(mentions))
    except errors.RosterError as exc:
        return post_edit_page(
            request,
            principal,
            session,
            post,
            body=body,
            mentions=mentions,
            error=exc.detail,
            status_code=exc.status,
        )
    return redirect(f"/stream#post-{post_id}", request, "The post is saved.")
