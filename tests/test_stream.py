"""The activity stream: posts, audience, mentions, tags, comments, likes, and how people show."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.accounts.service import get_system_user
from roster.stream.models import Comment, CommentMention, Like, Post, PostAudience, PostMention, PostTag
from tests.factories import auth, make_org, make_user

API = "/api/v1"


def _post(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    answer = client.post(f"{API}/posts", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _count(db: Session, model: type[Any]) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _shown(db: Session, model: type[Any]) -> int:
    """Rows not hidden (by the trash or by a deletion)."""
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model).where(model.hidden_by.is_(None))) or 0)


def test_a_post_names_its_author_and_renders_mentions_from_the_references(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Mia", last_name="Stone")
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    bob = make_user(db, o.org, first_name="Bob", last_name="Ng")

    post = _post(
        client,
        auth(db, author),
        body=f"Thanks @Anna Jones and @[{bob.id}] for the launch!",
        mentions=[str(anna.id)],
    )

    assert post["author"] == {
        "id": str(author.id),
        "display_name": "Mia Stone",
        "status": "active",
        "is_system": False,
    }
    assert post["body"] == "Thanks @Anna Jones and @Bob Ng for the launch!"
    assert post["body_markup"] == f"Thanks @[{anna.id}] and @[{bob.id}] for the launch!"
    assert {m["id"] for m in post["mentions"]} == {str(anna.id), str(bob.id)}
    assert post["visibility"] == "everyone" and post["audience"] == []
    assert post["like_count"] == 0 and post["comment_count"] == 0 and post["liked_by_me"] is False
    stored = db.scalars(select(Post.body)).one()
    assert "Anna" not in stored and "Bob" not in stored  # names live in the user rows only
    assert _count(db, PostMention) == 2


def test_a_mention_of_a_longer_name_wins_over_a_shorter_one(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="")
    annabel = make_user(db, o.org, first_name="Ann", last_name="Lee")
    post = _post(
        client,
        auth(db, o.admin),
        body="@Ann Lee and @Ann, and @Annex stays text",
        mentions=[str(ann.id), str(annabel.id)],
    )
    assert post["body_markup"] == f"@[{annabel.id}] and @[{ann.id}], and @Annex stays text"


def test_the_stream_is_newest_first_and_paged(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    ids = []
    for n in range(5):
        ids.append(_post(client, headers, body=f"Post {n}")["id"])
        clock.advance(timedelta(seconds=1))

    first = client.get(f"{API}/stream?per_page=2", headers=headers).json()
    second = client.get(f"{API}/stream?per_page=2&page=2", headers=headers).json()
    last = client.get(f"{API}/stream?per_page=2&page=3", headers=headers).json()

    assert first["total"] == 5
    assert [p["id"] for p in first["items"] + second["items"] + last["items"]] == ids[::-1]
    assert client.get(f"{API}/stream?per_page=201", headers=headers).status_code == 422
    assert client.get(f"{API}/stream?page=0", headers=headers).status_code == 422


def test_a_post_for_chosen_people_is_seen_only_by_them_and_its_author(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author, reader, outsider = (make_user(db, o.org) for _ in range(3))
    post = _post(client, auth(db, author), body="Salary review dates", audience=[str(reader.id)])
    assert post["visibility"] == "people"
    assert [a["id"] for a in post["audience"]] == [str(reader.id)]

    for user, sees in ((author, True), (reader, True), (outsider, False), (o.admin, False)):
        headers = auth(db, user)
        stream = client.get(f"{API}/stream", headers=headers).json()
        assert (post["id"] in [p["id"] for p in stream["items"]]) is sees
        assert stream["total"] == (1 if sees else 0)
        expected = 200 if sees else 404
        assert client.get(f"{API}/posts/{post['id']}", headers=headers).status_code == expected
        assert client.get(f"{API}/posts/{post['id']}/comments", headers=headers).status_code == expected
    outsider_headers = auth(db, outsider)
    assert client.post(f"{API}/posts/{post['id']}/like", headers=outsider_headers).status_code == 404
    assert (
        client.post(
            f"{API}/posts/{post['id']}/comments", json={"body": "hi"}, headers=outsider_headers
        ).status_code
        == 404
    )
    assert _count(db, Like) == 0 and _count(db, Comment) == 0


def test_an_audience_of_the_author_alone_keeps_a_post_to_them_when_made_and_when_edited(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author, reader = make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, author)
    made = _post(client, headers, body="Note to self", audience=[str(author.id)])
    opened = _post(client, headers, body="For all")
    edited = client.patch(f"{API}/posts/{opened['id']}", json={"audience": [str(author.id)]}, headers=headers)
    assert edited.status_code == 200
    for post in (made, edited.json()):
        assert post["visibility"] == "people" and post["audience"] == []
    seen = {p["id"] for p in client.get(f"{API}/stream", headers=auth(db, reader)).json()["items"]}
    assert seen == set()
    mine = {p["id"] for p in client.get(f"{API}/stream", headers=headers).json()["items"]}
    assert mine == {made["id"], opened["id"]}


def test_mentioned_and_tagged_people_join_a_restricted_audience(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author, reader, mentioned, tagged = (make_user(db, o.org) for _ in range(4))
    post = _post(
        client,
        auth(db, author),
        body="Team lunch",
        audience=[str(reader.id)],
        mentions=[str(mentioned.id)],
        tags=[str(tagged.id)],
    )
    assert {a["id"] for a in post["audience"]} == {str(reader.id), str(mentioned.id), str(tagged.id)}
    assert [t["id"] for t in post["tags"]] == [str(tagged.id)]
    assert client.get(f"{API}/posts/{post['id']}", headers=auth(db, tagged)).status_code == 200


def test_naming_a_person_who_is_not_active_is_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author = make_user(db, o.org)
    dismissed = make_user(db, o.org, dismissed=True)
    system = get_system_user(db, o.org.id)
    headers = auth(db, author)
    for field in ("mentions", "tags", "audience"):
        for person in (dismissed, system):
            answer = client.post(
                f"{API}/posts", json={"body": "Hello", field: [str(person.id)]}, headers=headers
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["code"] == "inactive_user"
            assert answer.json()["user_id"] == str(person.id)
            assert answer.json()["field"] == field  # which of the lists to fix
    answer = client.post(f"{API}/posts", json={"body": f"Hi @[{dismissed.id}]"}, headers=headers)
    assert answer.json()["code"] == "inactive_user" and answer.json()["field"] == "mentions"
    assert _count(db, Post) == 0 and _count(db, PostMention) == 0


def test_unknown_and_other_organizations_people_are_refused_as_unknown(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    stranger = make_user(db, make_org(db).org)
    headers = auth(db, o.admin)
    for person_id in (uuid.uuid4(), stranger.id):
        for field in ("mentions", "tags", "audience"):
            answer = client.post(
                f"{API}/posts", json={"body": "Hello", field: [str(person_id)]}, headers=headers
            )
            assert answer.status_code == 422
            assert answer.json()["code"] == "unknown_user" and answer.json()["field"] == field
            # The id at fault, as every unknown_user and inactive_user names it (docs/api.md).
            assert answer.json()["user_id"] == str(person_id)
            assert answer.json()["user_ids"] == [str(person_id)]
        answer = client.post(f"{API}/posts", json={"body": f"Hi @[{person_id}]"}, headers=headers)
        assert answer.json()["code"] == "unknown_user"
    assert (
        client.post(
            f"{API}/posts", json={"body": "x", "mentions": ["not-a-uuid"]}, headers=headers
        ).status_code
        == 422
    )
    assert _count(db, Post) == 0


def test_empty_oversized_and_control_character_bodies(client: TestClient, db: Session) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)
    for body in ("", "   \n\t ", "\x00\x07\u202e"):
        answer = client.post(f"{API}/posts", json={"body": body}, headers=headers)
        assert answer.status_code == 422 and answer.json()["code"] == "empty_text", body
    answer = client.post(f"{API}/posts", json={"body": "x" * 10_001}, headers=headers)
    assert answer.status_code == 422 and answer.json()["code"] == "text_too_long"
    assert answer.json()["limit"] == 10_000
    assert client.post(f"{API}/posts", json={"body": "x" * 60_000}, headers=headers).status_code == 422
    assert client.post(f"{API}/posts", json={}, headers=headers).status_code == 422
    assert (
        client.post(f"{API}/posts", json={"body": "hi", "colour": "red"}, headers=headers).status_code == 422
    )
    assert _count(db, Post) == 0

    post = _post(client, headers, body="  Line one\r\nLine\x00 two\u202e\x1b[31m  ")
    assert post["body"] == "Line one\nLine two[31m"
    assert _post(client, headers, body="x" * 10_000)["body"] == "x" * 10_000

    answer = client.post(f"{API}/posts/{post['id']}/comments", json={"body": " \x00 "}, headers=headers)
    assert answer.json()["code"] == "empty_text"
    answer = client.post(f"{API}/posts/{post['id']}/comments", json={"body": "y" * 5_001}, headers=headers)
    assert answer.json()["code"] == "text_too_long"
    assert _count(db, Comment) == 0


def test_only_the_author_edits_a_post(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author, other, mentioned, added = (make_user(db, o.org) for _ in range(4))
    post = _post(client, auth(db, author), body=f"Hello @[{mentioned.id}]")

    answer = client.patch(f"{API}/posts/{post['id']}", json={"body": "Mine now"}, headers=auth(db, other))
    assert answer.status_code == 403
    answer = client.patch(f"{API}/posts/{post['id']}", json={"body": "Mine now"}, headers=auth(db, o.admin))
    assert answer.status_code == 403

    # The mentioned colleague leaves; fixing a typo keeps the mention without refusing it.
    db.execute(update(User).where(User.id == mentioned.id).values(status="dismissed"))
    headers = auth(db, author)
    edited = client.patch(
        f"{API}/posts/{post['id']}", json={"body": f"Hello again @[{mentioned.id}]"}, headers=headers
    ).json()
    assert edited["body"] == f"Hello again @{mentioned.display_name}"
    assert edited["mentions"][0]["status"] == "dismissed"
    assert edited["edited_at"] is not None

    # Naming someone new who is not active is still refused; adding an active person works.
    answer = client.patch(
        f"{API}/posts/{post['id']}", json={"tags": [str(mentioned.id), str(added.id)]}, headers=headers
    )
    assert answer.json()["code"] == "inactive_user" and answer.json()["field"] == "tags"
    edited = client.patch(
        f"{API}/posts/{post['id']}", json={"tags": [str(added.id)], "mentions": []}, headers=headers
    )
    assert edited.status_code == 200
    body = edited.json()
    assert [t["id"] for t in body["tags"]] == [str(added.id)]
    assert body["mentions"] == []
    assert body["body"] == body["body_markup"] == f"Hello again @{mentioned.display_name}"

    # Restricting and reopening the audience.
    restricted = client.patch(
        f"{API}/posts/{post['id']}", json={"audience": [str(added.id)]}, headers=headers
    ).json()
    assert restricted["visibility"] == "people"
    assert client.get(f"{API}/posts/{post['id']}", headers=auth(db, other)).status_code == 404
    reopened = client.patch(f"{API}/posts/{post['id']}", json={"audience": []}, headers=headers).json()
    assert reopened["visibility"] == "everyone" and reopened["audience"] == []
    assert client.get(f"{API}/posts/{post['id']}", headers=auth(db, other)).status_code == 200


def test_the_author_or_an_admin_deletes_a_post_with_everything_on_it(client: TestClient, db: Session) -> None:
    """Deleted, the post and everything on it are hidden in the trash (tests/test_trash.py)."""
    o = make_org(db)
    author, other, reader = (make_user(db, o.org) for _ in range(3))
    post = _post(client, auth(db, author), body="Hi", audience=[str(reader.id)], tags=[str(reader.id)])
    client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": f"@[{author.id}] yes"}, headers=auth(db, reader)
    )
    client.post(f"{API}/posts/{post['id']}/like", headers=auth(db, reader))
    models = (Post, Comment, CommentMention, Like, PostAudience, PostTag)
    before = {model: _count(db, model) for model in models}
    assert all(before.values())

    assert client.delete(f"{API}/posts/{post['id']}", headers=auth(db, reader)).status_code == 403
    assert client.delete(f"{API}/posts/{post['id']}", headers=auth(db, other)).status_code == 404
    # An admin moderates even a post not addressed to them.
    assert client.delete(f"{API}/posts/{post['id']}", headers=auth(db, o.admin)).status_code == 204
    assert client.get(f"{API}/posts/{post['id']}", headers=auth(db, author)).status_code == 404
    for model in models:
        assert (_shown(db, model), _count(db, model)) == (0, before[model]), model

    own = _post(client, auth(db, author), body="Again")
    assert client.delete(f"{API}/posts/{own['id']}", headers=auth(db, author)).status_code == 204
    assert client.delete(f"{API}/posts/{own['id']}", headers=auth(db, author)).status_code == 404


def test_comments_are_oldest_first_paged_and_mention_only_people_who_can_see_the_post(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author, reader, outsider = (make_user(db, o.org) for _ in range(3))
    post = _post(client, auth(db, author), body="Plans", audience=[str(reader.id)])
    headers = auth(db, reader)
    ids = []
    for n in range(3):
        answer = client.post(
            f"{API}/posts/{post['id']}/comments", json={"body": f"Comment {n}"}, headers=headers
        )
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
        clock.advance(timedelta(seconds=1))

    page = client.get(f"{API}/posts/{post['id']}/comments?per_page=2", headers=headers).json()
    rest = client.get(f"{API}/posts/{post['id']}/comments?per_page=2&page=2", headers=headers).json()
    assert page["total"] == 3
    assert [c["id"] for c in page["items"] + rest["items"]] == ids
    assert client.get(f"{API}/posts/{post['id']}", headers=headers).json()["comment_count"] == 3

    answer = client.post(
        f"{API}/posts/{post['id']}/comments",
        json={"body": "See this", "mentions": [str(outsider.id)]},
        headers=headers,
    )
    assert answer.status_code == 422 and answer.json()["code"] == "not_in_audience"
    mentioned = client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": f"@[{author.id}] agreed"}, headers=headers
    ).json()
    assert mentioned["body"] == f"@{author.display_name} agreed"
    assert mentioned["mentions"][0]["id"] == str(author.id)


def test_a_comment_is_deleted_by_its_author_the_posts_author_or_an_admin(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author, commenter, other = (make_user(db, o.org) for _ in range(3))
    post = _post(client, auth(db, author), body="Open thread")
    made = [
        client.post(
            f"{API}/posts/{post['id']}/comments", json={"body": f"c{n}"}, headers=auth(db, commenter)
        ).json()
        for n in range(3)
    ]
    url = f"{API}/posts/{post['id']}/comments/"
    assert client.delete(url + made[0]["id"], headers=auth(db, other)).status_code == 403
    assert client.delete(url + made[0]["id"], headers=auth(db, commenter)).status_code == 204
    assert client.delete(url + made[1]["id"], headers=auth(db, author)).status_code == 204
    assert client.delete(url + made[2]["id"], headers=auth(db, o.admin)).status_code == 204
    assert client.delete(url + made[2]["id"], headers=auth(db, o.admin)).status_code == 404
    assert client.delete(url + str(uuid.uuid4()), headers=auth(db, author)).status_code == 404
    assert _shown(db, Comment) == 0
    assert _count(db, Comment) == 3  # in the trash


def test_the_pages_ask_the_same_rules_the_service_enforces(db: Session) -> None:
    from roster.stream import service

    o = make_org(db)
    author, commenter, other = (make_user(db, o.org) for _ in range(3))
    post = service.create_post(db, actor=author, body="Open thread")
    comment = service.add_comment(db, post, actor=commenter, body="A reply")
    assert [service.can_edit_post(u, post) for u in (author, commenter, o.admin)] == [True, False, False]
    assert [service.can_delete_post(u, post) for u in (author, commenter, o.admin)] == [True, False, True]
    assert [service.can_delete_comment(u, post, comment) for u in (author, commenter, other, o.admin)] == [
        True,
        True,
        False,
        True,
    ]


def test_a_like_counts_once_per_person_and_can_be_taken_back(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author, fan = make_user(db, o.org), make_user(db, o.org)
    post = _post(client, auth(db, author), body="Likeable")
    fan_headers = auth(db, fan)
    url = f"{API}/posts/{post['id']}/like"
    assert client.post(url, headers=fan_headers).json()["like_count"] == 1
    again = client.post(url, headers=fan_headers).json()
    assert again["like_count"] == 1 and again["liked_by_me"] is True
    mine = client.post(url, headers=auth(db, author)).json()
    assert mine["like_count"] == 2
    undone = client.delete(url, headers=fan_headers).json()
    assert undone["like_count"] == 1 and undone["liked_by_me"] is False
    assert client.delete(url, headers=fan_headers).json()["like_count"] == 1
    assert _count(db, Like) == 1


def test_a_dismissed_authors_content_shows_them_marked_or_as_former_employee(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Dana", last_name="Cole")
    mentioned = make_user(db, o.org, first_name="Eli", last_name="Fox")
    post = _post(client, auth(db, author), body="Hi @Eli Fox", mentions=[str(mentioned.id)])
    client.post(f"{API}/posts/{post['id']}/comments", json={"body": "Me too"}, headers=auth(db, author))
    db.execute(update(User).where(User.id.in_([author.id, mentioned.id])).values(status="dismissed"))
    reader = auth(db, o.admin)

    shown = client.get(f"{API}/posts/{post['id']}", headers=reader).json()
    assert shown["author"] == {
        "id": str(author.id),
        "display_name": "Dana Cole",
        "status": "dismissed",
        "is_system": False,
    }
    assert shown["body"] == "Hi @Eli Fox"

    o.org.show_former_employee_names = False
    db.flush()
    shown = client.get(f"{API}/posts/{post['id']}", headers=reader).json()
    assert shown["author"]["display_name"] == "Former employee"
    assert shown["author"]["status"] == "dismissed"
    assert shown["mentions"][0]["display_name"] == "Former employee"
    assert shown["body"] == "Hi @Former employee"
    comments = client.get(f"{API}/posts/{post['id']}/comments", headers=reader).json()
    assert comments["items"][0]["author"]["display_name"] == "Former employee"
    stream = client.get(f"{API}/stream", headers=reader).text
    assert "Dana" not in stream and "Eli" not in stream


def test_a_deleted_persons_content_shows_where_it_moved_and_hidden_mentions_lose_the_name(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Gil", last_name="Hart")
    erased = make_user(db, o.org, first_name="Ida", last_name="Jun")
    kept = make_user(db, o.org, first_name="Kai", last_name="Lo")
    post = _post(
        client, auth(db, author), body="Hi @Ida Jun and @Kai Lo", mentions=[str(erased.id), str(kept.id)]
    )
    system = get_system_user(db, o.org.id)
    # What the lifecycle's deletion does with the dispositions system_user and delete:
    db.execute(update(Post).values(author_id=system.id))
    db.execute(update(PostMention).where(PostMention.user_id == erased.id).values(hidden_by=uuid.uuid4()))
    db.execute(update(User).where(User.id.in_([author.id, erased.id])).values(status="deleted"))

    shown = client.get(f"{API}/posts/{post['id']}", headers=auth(db, kept)).json()
    assert shown["author"] == {
        "id": str(system.id),
        "display_name": "System User",
        "status": "active",
        "is_system": True,
    }
    assert shown["body"] == "Hi @Former employee and @Kai Lo"
    assert shown["body_markup"] == f"Hi @Former employee and @[{kept.id}]"
    assert [m["id"] for m in shown["mentions"]] == [str(kept.id)]
    assert "Ida" not in client.get(f"{API}/stream", headers=auth(db, kept)).text

    # A mention or tag moved to the System User names nobody: "@Former employee", and no tag.
    db.execute(update(PostMention).where(PostMention.user_id == kept.id).values(user_id=system.id))
    db.add(PostTag(org_id=o.org.id, post_id=uuid.UUID(post["id"]), user_id=system.id))
    db.flush()
    shown = client.get(f"{API}/posts/{post['id']}", headers=auth(db, o.admin)).json()
    assert shown["body"] == "Hi @Former employee and @Former employee"
    assert shown["body_markup"] == "Hi @Former employee and @Former employee"
    assert shown["mentions"] == [] and shown["tags"] == []
    listed = client.get(f"{API}/stream", headers=auth(db, o.admin)).json()["items"]
    assert [i["body"] for i in listed] == ["Hi @Former employee and @Former employee"]


def test_hidden_rows_are_left_out_everywhere(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author, reader, fan = (make_user(db, o.org) for _ in range(3))
    hidden_post = _post(client, auth(db, author), body="Hidden soon")
    post = _post(client, auth(db, author), body="Stays", audience=[str(reader.id)])
    client.post(f"{API}/posts/{post['id']}/comments", json={"body": "Kept"}, headers=auth(db, reader))
    client.post(f"{API}/posts/{post['id']}/comments", json={"body": "Hidden"}, headers=auth(db, author))
    client.post(f"{API}/posts/{post['id']}/like", headers=auth(db, reader))
    client.post(f"{API}/posts/{hidden_post['id']}/like", headers=auth(db, fan))
    operation = uuid.uuid4()
    db.execute(update(Post).where(Post.id == uuid.UUID(hidden_post["id"])).values(hidden_by=operation))
    db.execute(update(Comment).where(Comment.author_id == author.id).values(hidden_by=operation))
    db.execute(update(Like).where(Like.user_id == reader.id).values(hidden_by=operation))

    headers = auth(db, reader)
    stream = client.get(f"{API}/stream", headers=headers).json()
    assert [p["id"] for p in stream["items"]] == [post["id"]] and stream["total"] == 1
    assert client.get(f"{API}/posts/{hidden_post['id']}", headers=auth(db, author)).status_code == 404
    shown = client.get(f"{API}/posts/{post['id']}", headers=headers).json()
    assert shown["comment_count"] == 1 and shown["like_count"] == 0 and shown["liked_by_me"] is False
    comments = client.get(f"{API}/posts/{post['id']}/comments", headers=headers).json()
    assert [c["body"] for c in comments["items"]] == ["Kept"] and comments["total"] == 1

    # A hidden audience row takes the access with it.
    db.execute(update(PostAudience).values(hidden_by=operation))
    assert client.get(f"{API}/posts/{post['id']}", headers=headers).status_code == 404


def test_another_organizations_posts_do_not_exist(client: TestClient, db: Session) -> None:
    mine, theirs = make_org(db), make_org(db)
    post = _post(client, auth(db, mine.admin), body="Internal")
    headers = auth(db, theirs.admin)
    assert client.get(f"{API}/stream", headers=headers).json() == {"items": [], "total": 0}
    for method, path in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/comments"),
        ("POST", "/comments"),
        ("POST", "/like"),
        ("DELETE", "/like"),
    ):
        kwargs: dict[str, Any] = {"json": {"body": "x"}} if method in ("POST", "PATCH") else {}
        answer = client.request(method, f"{API}/posts/{post['id']}{path}", headers=headers, **kwargs)
        assert answer.status_code == 404, (method, path, answer.text)


def test_a_page_of_posts_loads_its_people_in_a_fixed_number_of_queries(
    client: TestClient, db: Session, connection: Connection
) -> None:
    o = make_org(db)
    headers = auth(db, o.admin)

    def queries_for_stream() -> int:
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection, "before_cursor_execute", count)
        try:
            assert client.get(f"{API}/stream", headers=headers).status_code == 200
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return len(statements)

    def add_posts(n: int) -> None:
        for _ in range(n):
            author, friend = make_user(db, o.org), make_user(db, o.org)
            post = _post(client, auth(db, author), body=f"Hi @[{friend.id}]", tags=[str(friend.id)])
            client.post(f"{API}/posts/{post['id']}/comments", json={"body": "c"}, headers=auth(db, friend))
            client.post(f"{API}/posts/{post['id']}/like", headers=auth(db, friend))

    add_posts(2)
    queries_for_stream()  # the first request also records the token's use
    few = queries_for_stream()
    add_posts(8)
    many = queries_for_stream()
    assert many == few


def test_the_demo_organization_has_a_lively_stream(client: TestClient, db: Session) -> None:
    from roster.accounts.service import get_organization_by_slug
    from roster.demo import DEMO_SLUG, create_demo
    from tests.factories import PASSWORD

    assert create_demo(db, password=PASSWORD)
    org = get_organization_by_slug(db, DEMO_SLUG)
    assert org is not None
    john = db.scalars(select(User).where(User.org_id == org.id, User.first_name == "Jöhn")).one()
    lukas = db.scalars(select(User).where(User.org_id == org.id, User.first_name == "Lukas")).one()
    stream = client.get(f"{API}/stream", headers=auth(db, john)).json()
    assert stream["total"] == 6  # including the budget post addressed to him
    assert client.get(f"{API}/stream", headers=auth(db, lukas)).json()["total"] == 5
    newest = stream["items"][0]
    assert (
        newest["author"]["display_name"] == "Lukas Weber"
        and newest["mentions"][0]["display_name"] == "Ravi Patel"
    )
    assert sum(p["comment_count"] for p in stream["items"]) >= 5
    assert sum(p["like_count"] for p in stream["items"]) >= 10
