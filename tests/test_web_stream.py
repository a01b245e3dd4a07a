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
        assert 'aria-invalid="true" aria-describedby="edit-error edit-hint"' in answer.text
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


# --- tags and audience ----------------------------------------------------------------------


def _options(page: str, name: str) -> dict[str, bool]:
    """The people a form's ``name`` list offers, by id, each with whether it is selected."""
    block = re.search(rf'<select id="f-{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert block, f"no {name} list on the page"
    return {
        value: bool(selected)
        for value, selected in re.findall(r'<option value="([^"]+)"\s*(selected)?', block.group(1))
    }


def _chosen(page: str, name: str) -> set[str]:
    return {value for value, selected in _options(page, name).items() if selected}


def _visibility(page: str) -> str:
    [checked] = re.findall(r'name="visibility" value="(\w+)" checked', page)
    return checked


def _field_error(page: str, name: str) -> str:
    """The message beside the ``name`` picker ("" when there is none)."""
    match = re.search(
        rf'<div class="field people-picker has-error" data-picker data-name="{name}".*?'
        r'<div class="field-error"[^>]*>([^<]*)</div>',
        page,
        re.S,
    )
    return html.unescape(match.group(1)) if match else ""


def _sent_as_rendered(page: str, action: str, csrf: str, **changes: str) -> dict[str, list[str]]:
    """What a browser without the script sends when the form's button is pressed as it stands
    (with ``changes`` typed into its fields)."""
    from tests.test_web_submit import _Forms

    parser = _Forms("/stream")
    parser.feed(page)
    [form] = [f for f in parser.forms if f.action == action]
    data: dict[str, list[str]] = {}
    for name, value in form.values:
        data.setdefault(name, []).append(value)
    data["csrf_token"] = [csrf]
    for name, value in changes.items():
        data[name] = [value]
    return data


def _people_of(db: Session, post_id: uuid.UUID) -> tuple[str, set[uuid.UUID], set[uuid.UUID]]:
    """Who can see a post ("everyone" or "people"), whom it tags, and whom its audience lists."""
    db.expire_all()
    post = db.scalars(select(Post).where(Post.id == post_id)).one()
    author = db.get(User, (post.org_id, post.author_id))
    assert author is not None
    page = stream.load_post_page(db, post.org_id, [post], viewer=author)
    return post.audience, set(page.tags[post.id]), set(page.audience[post.id])


def _newest_post(db: Session, org_id: uuid.UUID) -> Post | None:
    db.expire_all()
    return db.scalars(select(Post).where(Post.org_id == org_id).order_by(Post.created_at.desc())).first()


def test_a_post_tags_colleagues_and_is_for_chosen_people_only_who_see_it_on_the_stream(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada", last_name="Author")
    tess = make_user(db, o.org, first_name="Tess", last_name="Tagged")
    rita = make_user(db, o.org, first_name="Rita", last_name="Reader")
    otto = make_user(db, o.org, first_name="Otto", last_name="Outside")
    csrf = sign_in(client, db, settings, author)

    answer = client.post(
        "/stream/posts",
        data={
            "csrf_token": csrf,
            "body": "Quarterly numbers are in",
            "tags": [str(tess.id)],
            "visibility": "people",
            "audience": [str(rita.id)],
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/stream"
    post = _newest_post(db, o.org.id)
    assert post is not None and post.body == "Quarterly numbers are in"
    # The tagged colleague joins the audience, so they can read the post that names them.
    assert _people_of(db, post.id) == ("people", {tess.id}, {rita.id, tess.id})

    page = client.get("/stream", headers=HTML).text
    assert "Your post is published." in page
    article = page[page.index(f'id="post-{post.id}"') :]
    assert f'<p class="post-tags">with <a href="/people/{tess.id}">Tess Tagged</a></p>' in article
    disclosure = re.search(
        r'<details class="audience-names"><summary>visible to 2 people</summary>(.*?)</details>',
        article,
        re.S,
    )
    assert disclosure, article[:1500]
    assert f'<a href="/people/{rita.id}">Rita Reader</a>' in disclosure.group(1)
    assert f'<a href="/people/{tess.id}">Tess Tagged</a>' in disclosure.group(1)

    for who, sees in ((rita, True), (tess, True), (otto, False), (o.admin, False)):
        sign_in(client, db, settings, who)
        stream_page = client.get("/stream", headers=HTML).text
        assert ("Quarterly numbers are in" in stream_page) is sees, who.display_name
        assert (f'id="post-{post.id}"' in stream_page) is sees


def test_the_tag_and_audience_pickers_offer_only_active_colleagues(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.accounts.service import get_system_user
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    active = make_user(db, o.org, first_name="Ari")
    dismissed = make_user(db, o.org, first_name="Dana", dismissed=True)
    deleted = make_user(db, o.org, first_name="Del")
    delete_user(db, deleted, actor=o.admin, confirm=deleted.email)
    system = get_system_user(db, o.org.id)
    post = stream.create_post(db, actor=author, body="Team lunch")
    sign_in(client, db, settings, author)

    for path in ("/stream", f"/stream/posts/{post.id}/edit"):
        page = client.get(path, headers=HTML).text
        for name in ("tags", "audience"):
            offered = set(_options(page, name))
            assert {str(active.id), str(o.admin.id)} <= offered, (path, name)
            assert not {str(dismissed.id), str(deleted.id), str(system.id)} & offered, (path, name)
        # The author sees their own post anyway: the audience list leaves them out, the tags do not.
        assert str(author.id) in _options(page, "tags") and str(author.id) not in _options(page, "audience")
        assert _chosen(page, "tags") == set() and _chosen(page, "audience") == set()
        assert _visibility(page) == "everyone"


def test_a_refused_post_comes_back_with_the_text_and_every_choice_kept(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    tess = make_user(db, o.org, first_name="Tess")
    rita = make_user(db, o.org, first_name="Rita")
    mona = make_user(db, o.org, first_name="Mona")
    leaver = make_user(db, o.org, first_name="Lee")
    csrf = sign_in(client, db, settings, author)
    page = client.get("/stream", headers=HTML).text
    assert str(leaver.id) in _options(page, "tags")
    dismiss_user(db, leaver, actor=o.admin)  # while the page was open
    typed = f"Thanks @{mona.display_name} & all <3"
    base = {
        "csrf_token": csrf,
        "body": typed,
        "mentions": [str(mona.id)],
        "tags": [str(tess.id)],
        "visibility": "people",
        "audience": [str(rita.id)],
    }
    too_many = [str(uuid.uuid4()) for _ in range(stream.PEOPLE_LIMIT)]
    cases = [
        (
            {"tags": [str(tess.id), str(leaver.id)]},
            "tags",
            "That person is no longer active: choose someone else.",
        ),
        (
            {"audience": [str(rita.id), str(leaver.id)]},
            "audience",
            "That person is no longer active: choose someone else.",
        ),
        ({"tags": [str(tess.id), *too_many]}, "tags", f"At most {stream.PEOPLE_LIMIT} people in tags."),
        (
            {"audience": [str(author.id)]},
            "audience",
            "Choose the people who can see the post, or let everyone see it.",
        ),
    ]
    for change, where, message in cases:
        answer = client.post("/stream/posts", data={**base, **change}, headers=HTML)
        assert answer.status_code == 422, (change, answer.text[:300])
        page = answer.text
        assert "Your post was not published" in page
        assert f">{html.escape(typed, quote=False)}</textarea>" in page
        assert f'<option value="{mona.id}" data-name="{mona.display_name}" selected' in page
        assert str(tess.id) in _chosen(page, "tags")
        assert _visibility(page) == "people"
        if where == "audience" and change["audience"] == [str(author.id)]:
            assert _chosen(page, "audience") == set()
        else:
            assert str(rita.id) in _chosen(page, "audience")
        # The one who left is not offered again, the refusal is beside the list it is about.
        assert str(leaver.id) not in _options(page, "tags") | _options(page, "audience")
        assert _field_error(page, where) == message
        assert _field_error(page, "audience" if where == "tags" else "tags") == ""
    assert _newest_post(db, o.org.id) is None


def test_the_author_changes_a_posts_tags_and_audience_from_its_edit_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    tess = make_user(db, o.org, first_name="Tess")
    rita = make_user(db, o.org, first_name="Rita")
    cole = make_user(db, o.org, first_name="Cole")
    post = stream.create_post(db, actor=author, body="Draft plan", tags=[tess.id], audience=[rita.id])
    csrf = sign_in(client, db, settings, author)
    action = f"/stream/posts/{post.id}/edit"

    form = client.get(action, headers=HTML).text
    assert _chosen(form, "tags") == {str(tess.id)}
    assert _chosen(form, "audience") == {str(rita.id), str(tess.id)}
    assert _visibility(form) == "people"
    # Saved as it stands, nothing changes but the edit time.
    data = _sent_as_rendered(form, action, csrf)
    assert data["visibility"] == ["people"] and data["body"] == ["Draft plan"]
    answer = client.post(action, data=data, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert _people_of(db, post.id) == ("people", {tess.id}, {rita.id, tess.id})

    # Cole tagged instead of Tess, and the post opened to everyone.
    answer = client.post(
        action,
        data={
            "csrf_token": csrf,
            "body": "Final plan",
            "tags": [str(cole.id)],
            "visibility": "everyone",
            "audience": [str(rita.id)],
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _people_of(db, post.id) == ("everyone", {cole.id}, set())
    sign_in(client, db, settings, make_user(db, o.org, first_name="Otto"))
    assert "Final plan" in client.get("/stream", headers=HTML).text

    # Back to chosen people; a form that does not say who can see it leaves that as it is.
    csrf = sign_in(client, db, settings, author)
    answer = client.post(
        action,
        data={
            "csrf_token": csrf,
            "body": "Final plan",
            "tags": [str(cole.id)],
            "visibility": "people",
            "audience": [str(rita.id)],
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _people_of(db, post.id) == ("people", {cole.id}, {rita.id, cole.id})
    answer = client.post(
        action,
        data={"csrf_token": csrf, "body": "Final plan v2", "tags": [str(cole.id)]},
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert _people_of(db, post.id) == ("people", {cole.id}, {rita.id, cole.id})


def test_editing_keeps_a_tagged_colleague_who_has_left_and_a_refusal_keeps_the_choices(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    author = make_user(db, o.org, first_name="Ada")
    leaver = make_user(db, o.org, first_name="Lena", last_name="Leaver")
    rita = make_user(db, o.org, first_name="Rita")
    later = make_user(db, o.org, first_name="Leo", last_name="Later")
    post = stream.create_post(db, actor=author, body="Handover notes", tags=[leaver.id], audience=[rita.id])
    dismiss_user(db, leaver, actor=o.admin)
    csrf = sign_in(client, db, settings, author)
    action = f"/stream/posts/{post.id}/edit"

    # The stream names her still (no link for an employee: her card is gone), the composer does not offer her.
    page = client.get("/stream", headers=HTML).text
    assert '<p class="post-tags">with <span>Lena Leaver</span></p>' in page
    assert str(leaver.id) not in _options(page, "tags") | _options(page, "audience")

    form = client.get(action, headers=HTML).text
    assert _chosen(form, "tags") == {str(leaver.id)}
    assert _chosen(form, "audience") == {str(rita.id), str(leaver.id)}
    data = _sent_as_rendered(form, action, csrf, body="Handover notes, updated")
    answer = client.post(action, data=data, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    assert _people_of(db, post.id) == ("people", {leaver.id}, {rita.id, leaver.id})

    # Someone who left since the form was opened cannot be added; what was typed and chosen stays.
    dismiss_user(db, later, actor=o.admin)
    answer = client.post(
        action,
        data={
            "csrf_token": csrf,
            "body": "Handover notes, final",
            "tags": [str(leaver.id), str(later.id)],
            "visibility": "people",
            "audience": [str(rita.id), str(leaver.id)],
        },
        headers=HTML,
    )
    assert answer.status_code == 422
    assert ">Handover notes, final</textarea>" in answer.text
    assert _field_error(answer.text, "tags") == "That person is no longer active: choose someone else."
    assert not re.search(r'<textarea[^>]*aria-invalid="true"', answer.text)  # the text is fine
    assert _chosen(answer.text, "tags") == {str(leaver.id)}
    assert _chosen(answer.text, "audience") == {str(rita.id), str(leaver.id)}
    assert _visibility(answer.text) == "people"
    db.expire_all()
    kept = db.get(Post, (o.org.id, post.id))
    assert kept is not None and kept.body == "Handover notes, updated"
