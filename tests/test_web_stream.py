"""The stream page: a comment is deleted (and undone) and a post is edited from the page, by
whoever the stream service allows, with the same refusals the API gives."""

from __future__ import annotations

import html
import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.lifecycle.audit import AuditEvent
from roster.settings import Settings
from roster.stream import service as stream
from roster.stream.models import Comment, Post
from tests.factories import OrgWithAdmin, make_org, make_user
from tests.test_web import HTML, sign_in

UNDO = re.compile(
    r'<form method="post" action="([^"]+)" class="alert-action">.*?<button[^>]*>Undo</button>', re.S
)


def _actions(db: Session, org_id: uuid.UUID) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq))
    )


def _thread(db: Session, o: OrgWithAdmin) -> tuple[User, User, Post, Comment]:
    """A post by the admin with a comment by an employee, and a second employee."""
    commenter = make_user(db, o.org, first_name="Cora")
    other = make_user(db, o.org, first_name="Otto")
    post = stream.create_post(db, actor=o.admin, body="Offsite agenda is out")
    comment = stream.add_comment(db, post, actor=commenter, body="Thanks, looks good")
    return commenter, other, post, comment


def _delete_path(post: Post, comment: Comment) -> str:
    return f"/stream/posts/{post.id}/comments/{comment.id}/delete"


def _comment_shown(db: Session, post: Post, comment_id: uuid.UUID) -> bool:
    db.expire_all()
    comments, _ = stream.list_comments(db, post)
    return any(c.id == comment_id for c in comments)


def test_the_author_of_a_comment_deletes_it_from_the_stream_and_the_undo_brings_it_back(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    commenter, _, post, comment = _thread(db, o)
    comment_id = comment.id
    csrf = sign_in(client, db, settings, commenter)
    page = client.get("/stream", headers=HTML).text
    assert f'action="{_delete_path(post, comment)}"' in page

    answer = client.post(
        _delete_path(post, comment), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/stream#post-{post.id}"
    page = client.get("/stream", headers=HTML).text
    assert "The comment is moved to the trash." in page
    assert "Thanks, looks good" not in page
    assert not _comment_shown(db, post, comment_id)
    assert _actions(db, o.org.id)[-1] == "comment.deleted"
    trash = client.get("/trash", headers=HTML).text
    assert "Thanks, looks good" in trash

    [undo] = UNDO.findall(page)
    assert html.unescape(undo).endswith("?next=%2Fstream%23post-" + str(post.id))
    answer = client.post(html.unescape(undo), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/stream#post-{post.id}"
    page = client.get("/stream", headers=HTML).text
    assert "The comment is restored." in page and "Thanks, looks good" in page
    assert _comment_shown(db, post, comment_id)
    assert _actions(db, o.org.id)[-1] == "comment.restored"


def test_someone_who_may_not_delete_a_comment_gets_the_services_refusal_and_it_stays(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    _, other, post, comment = _thread(db, o)
    csrf = sign_in(client, db, settings, other)
    assert f'action="{_delete_path(post, comment)}"' not in client.get("/stream", headers=HTML).text

    answer = client.post(
        _delete_path(post, comment), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/stream#post-{post.id}"
    page = client.get("/stream", headers=HTML).text
    assert "Only the comment&#39;s author, the post&#39;s author or an administrator may delete it." in page
    assert "Thanks, looks good" in page and _comment_shown(db, post, comment.id)
    assert "comment.deleted" not in _actions(db, o.org.id)
    # Without the page's token nothing happens at all.
    forged = client.post(_delete_path(post, comment), data={}, headers=HTML, follow_redirects=False)
    assert forged.status_code == 403 and _comment_shown(db, post, comment.id)


def test_an_admin_deletes_anyones_comment_and_the_posts_author_deletes_comments_on_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    commenter = make_user(db, o.org, first_name="Cora")
    post = stream.create_post(db, actor=author, body="Lunch on Friday")
    first = stream.add_comment(db, post, actor=commenter, body="Count me in")
    second = stream.add_comment(db, post, actor=commenter, body="Bringing cake")
    assert stream.can_delete_comment(o.admin, post, first)

    for who, comment in ((o.admin, first), (author, second)):
        csrf = sign_in(client, db, settings, who)
        assert f'action="{_delete_path(post, comment)}"' in client.get("/stream", headers=HTML).text
        answer = client.post(_delete_path(post, comment), data={"csrf_token": csrf}, headers=HTML)
        assert answer.status_code == 200 and "The comment is moved to the trash." in answer.text
    assert not _comment_shown(db, post, first.id) and not _comment_shown(db, post, second.id)
    assert _actions(db, o.org.id)[-2:] == ["comment.deleted", "comment.deleted"]


def test_a_missing_comment_or_post_is_not_found(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    commenter, _, post, comment = _thread(db, o)
    csrf = sign_in(client, db, settings, commenter)
    for path in (
        f"/stream/posts/{post.id}/comments/{uuid.uuid4()}/delete",
        f"/stream/posts/{uuid.uuid4()}/comments/{comment.id}/delete",
    ):
        assert client.post(path, data={"csrf_token": csrf}, headers=HTML).status_code == 404


def test_the_author_edits_a_post_from_the_stream_and_it_shows_edited(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    friend = make_user(db, o.org, first_name="Fred", last_name="Friend")
    post = stream.create_post(db, actor=author, body=f"Welcome @[{friend.id}] to the team")
    csrf = sign_in(client, db, settings, author)
    page = client.get("/stream", headers=HTML).text
    assert f'href="/stream/posts/{post.id}/edit"' in page
    assert "· edited" not in page

    form = client.get(f"/stream/posts/{post.id}/edit", headers=HTML)
    assert form.status_code == 200
    # The text as the new-post form writes it, the person it mentions picked, the same limit.
    assert f">Welcome @{friend.display_name} to the team</textarea>" in form.text
    assert f'value="{friend.id}" data-name="{friend.display_name}" selected' in form.text
    assert f'maxlength="{stream.BODY_LIMIT}"' in form.text and "data-mention " in form.text

    answer = client.post(
        f"/stream/posts/{post.id}/edit",
        data={
            "csrf_token": csrf,
            "body": f"Welcome @{friend.display_name} to the sales team",
            "mentions": [str(friend.id)],
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/stream#post-{post.id}"
    page = client.get("/stream", headers=HTML).text
    assert "The post is saved." in page and "· edited" in page
    assert "to the sales team" in page
    db.expire_all()
    edited = db.get(Post, (o.org.id, post.id))
    assert edited is not None and edited.edited_at is not None
    assert edited.body != "" and str(friend.id) not in edited.body  # stored as a mention row's id
    assert stream.token_user_ids(edited.body) != []
    [mention] = stream.load_post_page(db, o.org.id, [edited], viewer=author).mentions[post.id]
    assert mention.user_id == friend.id


def test_someone_else_may_not_open_or_send_a_posts_edit_form(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    post = stream.create_post(db, actor=author, body="Lunch on Friday")
    for who in (make_user(db, o.org), o.admin):  # editing is the author's, even for an admin
        csrf = sign_in(client, db, settings, who)
        assert f'href="/stream/posts/{post.id}/edit"' not in client.get("/stream", headers=HTML).text
        assert client.get(f"/stream/posts/{post.id}/edit", headers=HTML).status_code == 403
        answer = client.post(
            f"/stream/posts/{post.id}/edit", data={"csrf_token": csrf, "body": "Hijacked"}, headers=HTML
        )
        assert answer.status_code == 403
    db.expire_all()
    kept = db.get(Post, (o.org.id, post.id))
    assert kept is not None and kept.body == "Lunch on Friday" and kept.edited_at is None


def test_a_refused_edit_comes_back_with_the_typed_text_and_the_reason_beside_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    post = stream.create_post(db, actor=author, body="Lunch on Friday")
    csrf = sign_in(client, db, settings, author)
    too_long = "Lunch <b>on</b> Friday " + "x" * stream.BODY_LIMIT
    for typed in ("   ", too_long):
        answer = client.post(
            f"/stream/posts/{post.id}/edit", data={"csrf_token": csrf, "body": typed}, headers=HTML
        )
        assert answer.status_code == 422, answer.text[:300]
        assert f">{html.escape(typed, quote=False)}</textarea>" in answer.text
        assert 'aria-invalid="true" aria-describedby="edit-error"' in answer.text
        assert re.search(r'<div class="field-error" id="edit-error">[^<]+</div>', answer.text)
    db.expire_all()
    kept = db.get(Post, (o.org.id, post.id))
    assert kept is not None and kept.body == "Lunch on Friday" and kept.edited_at is None


def test_the_undo_of_a_comment_is_refused_while_its_post_is_in_the_trash(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    commenter, _, post, comment = _thread(db, o)
    comment_id = comment.id
    csrf = sign_in(client, db, settings, commenter)
    page = client.post(_delete_path(post, comment), data={"csrf_token": csrf}, headers=HTML).text
    [undo] = UNDO.findall(page)
    stream.delete_post(db, stream.get_post(db, o.org.id, post.id, viewer=o.admin), actor=o.admin)

    answer = client.post(html.unescape(undo), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/stream#post-{post.id}"
    page = client.get("/stream", headers=HTML).text
    assert 'class="alert alert-error"' in page and "is restored" not in page
    assert _actions(db, o.org.id)[-2:] == ["comment.deleted", "post.deleted"]
    db.expire_all()
    assert db.get(Comment, (o.org.id, comment_id)).hidden_by is not None  # type: ignore[union-attr]


def test_editing_keeps_the_mention_of_a_former_employee_whose_name_is_not_shown(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    leaver = make_user(db, o.org, first_name="Lena", last_name="Leaver")
    post = stream.create_post(db, actor=author, body=f"Thanks @[{leaver.id}] for the handover")
    dismiss_user(db, leaver, actor=o.admin)
    o.org.show_former_employee_names = False
    db.flush()
    csrf = sign_in(client, db, settings, author)

    form = client.get(f"/stream/posts/{post.id}/edit", headers=HTML).text
    assert "Lena" not in form
    assert f">Thanks @[{leaver.id}] for the handover</textarea>" in form  # not "@Former employee"
    assert f'value="{leaver.id}" data-name="Former employee" selected' in form
    answer = client.post(
        f"/stream/posts/{post.id}/edit",
        data={"csrf_token": csrf, "body": f"Thanks @[{leaver.id}] for the careful handover"},
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    db.expire_all()
    edited = db.get(Post, (o.org.id, post.id))
    assert edited is not None
    [mention] = stream.load_post_page(db, o.org.id, [edited], viewer=author).mentions[post.id]
    assert mention.user_id == leaver.id
    assert "for the careful handover" in edited.body and stream.token_user_ids(edited.body) == [mention.id]
