"""The stream API: posts, comments and likes (API.md, "Intranet content")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, CurrentUser, Principal
from roster.domain import errors
from roster.locations import set_location
from roster.stream import service
from roster.stream.models import Comment, Post
from roster.stream.schemas import (
    CommentIn,
    CommentList,
    CommentOut,
    PostIn,
    PostList,
    PostOut,
    PostPatch,
    comment_out,
    post_out,
)

router = APIRouter(tags=["stream"])

PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]


def _show(session: Session, principal: Principal) -> bool:
    return principal.organization(session).show_former_employee_names


def _posts_out(session: Session, principal: Principal, posts: list[Post]) -> list[PostOut]:
    page = service.load_post_page(session, principal.org_id, posts, viewer=principal.user)
    show = _show(session, principal)
    return [post_out(p, page, show_former_names=show) for p in posts]


def _comments_out(session: Session, principal: Principal, comments: list[Comment]) -> list[CommentOut]:
    page = service.load_comment_page(session, principal.org_id, comments)
    show = _show(session, principal)
    return [comment_out(c, page, show_former_names=show) for c in comments]


@router.get("/stream", response_model=PostList)
def get_stream(principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50) -> PostList:
    """The posts the caller may see, newest first."""
    posts, total = service.list_stream(
        session, principal.org_id, viewer=principal.user, page=page, per_page=per_page
    )
    return PostList(items=_posts_out(session, principal, posts), total=total)


@router.post("/posts", response_model=PostOut, status_code=status.HTTP_201_CREATED)
def create_post(
    body: PostIn, request: Request, response: Response, principal: CurrentUser, session: DB
) -> PostOut:
    """Publish a post; mentions, tags and the audience must be active people (422 ``inactive_user``)."""
    post = service.create_post(
        session,
        actor=principal.user,
        body=body.body,
        mentions=body.mentions,
        audience=body.audience,
        tags=body.tags,
    )
    set_location(request, response, f"/posts/{post.id}")
    return _posts_out(session, principal, [post])[0]


@router.get("/posts/{post_id}", response_model=PostOut)
def get_post(post_id: uuid.UUID, principal: CurrentUser, session: DB) -> PostOut:
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    return _posts_out(session, principal, [post])[0]


@router.patch("/posts/{post_id}", response_model=PostOut)
def edit_post(post_id: uuid.UUID, body: PostPatch, principal: CurrentUser, session: DB) -> PostOut:
    """The author edits the text, mentions, tags or audience."""
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    service.edit_post(
        session,
        post,
        actor=principal.user,
        body=body.body,
        mentions=body.mentions,
        audience=body.audience,
        tags=body.tags,
    )
    return _posts_out(session, principal, [post])[0]


@router.delete("/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_post(post_id: uuid.UUID, principal: CurrentUser, session: DB) -> Response:
    """The author, or an admin (moderation, even of posts not addressed to them), deletes a post."""
    try:
        post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    except errors.NotFound:
        if not principal.is_admin:
            raise
        post = service.get_post_for_admin(session, principal.org_id, post_id)
    service.delete_post(session, post, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/posts/{post_id}/like", response_model=PostOut)
def like_post(post_id: uuid.UUID, principal: CurrentUser, session: DB) -> PostOut:
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    service.like_post(session, post, actor=principal.user)
    return _posts_out(session, principal, [post])[0]


@router.delete("/posts/{post_id}/like", response_model=PostOut)
def unlike_post(post_id: uuid.UUID, principal: CurrentUser, session: DB) -> PostOut:
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    service.unlike_post(session, post, actor=principal.user)
    return _posts_out(session, principal, [post])[0]


@router.get("/posts/{post_id}/comments", response_model=CommentList)
def list_comments(
    post_id: uuid.UUID, principal: CurrentUser, session: DB, page: PageNo = 1, per_page: PerPage = 50
) -> CommentList:
    """A post's comments, oldest first."""
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    comments, total = service.list_comments(session, post, page=page, per_page=per_page)
    return CommentList(items=_comments_out(session, principal, comments), total=total)


@router.post("/posts/{post_id}/comments", response_model=CommentOut, status_code=status.HTTP_201_CREATED)
def add_comment(post_id: uuid.UUID, body: CommentIn, principal: CurrentUser, session: DB) -> CommentOut:
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    comment = service.add_comment(session, post, actor=principal.user, body=body.body, mentions=body.mentions)
    return _comments_out(session, principal, [comment])[0]


@router.delete("/posts/{post_id}/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_comment(
    post_id: uuid.UUID, comment_id: uuid.UUID, principal: CurrentUser, session: DB
) -> Response:
    """The comment's author, the post's author or an admin deletes a comment."""
    post = service.get_post(session, principal.org_id, post_id, viewer=principal.user)
    comment = service.get_comment(session, post, comment_id)
    service.delete_comment(session, post, comment, actor=principal.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
