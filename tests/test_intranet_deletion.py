"""Deleting a person busy in the stream and in chats, with each disposition, and restoring them:
every stream and messages row comes back exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.service import get_system_user
from roster.lifecycle.deletion import DispositionPlan, delete_user, erase_user, restore_user
from roster.references import Disposition
from roster.stream.models import Post
from tests.factories import auth, make_org, make_user

API = "/api/v1"
TABLES = (
    "stream_posts",
    "stream_post_audience",
    "stream_post_mentions",
    "stream_post_tags",
    "stream_comments",
    "stream_comment_mentions",
    "stream_likes",
    "chats",
    "chat_members",
    "chat_messages",
)


def _snapshot(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    from roster.db.models import Base

    db.expire_all()
    result = {}
    for name in TABLES:
        table = Base.metadata.tables[name]
        # Read marks move when people read, which the test does while the person is deleted.
        columns = [c for c in table.c if c.name != "last_read_at"]
        result[name] = sorted(tuple(row) for row in db.execute(select(*columns)).all())
    return result


def _busy_world(client: TestClient, db: Session) -> dict[str, Any]:
    o = make_org(db)
    busy = make_user(db, o.org, first_name="Busy", last_name="Bee")
    friend = make_user(db, o.org, first_name="Fran", last_name="Friend")
    heir = make_user(db, o.org, first_name="Hal", last_name="Heir")
    system = get_system_user(db, o.org.id)
    b, f = auth(db, busy), auth(db, friend)

    own = client.post(f"{API}/posts", json={"body": f"Hello @[{friend.id}]"}, headers=b).json()
    secret = client.post(
        f"{API}/posts",
        json={"body": "Just us", "audience": [str(friend.id)], "tags": [str(friend.id)]},
        headers=b,
    ).json()
    theirs = client.post(
        f"{API}/posts",
        json={
            "body": "Thanks @Busy Bee",
            "mentions": [str(busy.id)],
            "tags": [str(busy.id)],
            "audience": [str(busy.id)],
        },
        headers=f,
    ).json()
    client.post(f"{API}/posts/{theirs['id']}/comments", json={"body": f"Yes @[{friend.id}]"}, headers=b)
    client.post(f"{API}/posts/{own['id']}/comments", json={"body": f"Nice @[{busy.id}]"}, headers=f)
    client.post(f"{API}/posts/{theirs['id']}/like", headers=b)
    client.post(f"{API}/posts/{own['id']}/like", headers=f)
    client.post(f"{API}/messages", json={"to_user_id": str(friend.id), "body": "Hi Fran"}, headers=b)
    client.post(f"{API}/messages", json={"to_user_id": str(busy.id), "body": "Hi Busy"}, headers=f)
    group = client.post(
        f"{API}/chats", json={"title": "Hive", "member_ids": [str(friend.id)]}, headers=b
    ).json()
    client.post(f"{API}/chats/{group['id']}/messages", json={"body": "Buzz"}, headers=b)
    return {
        "org": o,
        "busy": busy,
        "friend": friend,
        "heir": heir,
        "system": system,
        "own": own,
        "secret": secret,
        "theirs": theirs,
        "group": group,
    }


@pytest.mark.parametrize("default", [Disposition.SYSTEM_USER, Disposition.SUCCESSOR, Disposition.DELETE])
def test_deleting_and_restoring_a_busy_person_brings_every_row_back(
    client: TestClient, db: Session, default: Disposition
) -> None:
    w = _busy_world(client, db)
    before = _snapshot(db)
    plan = DispositionPlan(
        default=default, successor_id=w["heir"].id if default is Disposition.SUCCESSOR else None
    )
    result = delete_user(db, w["busy"], actor=w["org"].admin, confirm=w["busy"].email, disposition=plan)
    assert sum(result.moved.values()) + sum(result.deleted.values()) > 0
    f = auth(db, w["friend"])

    own = client.get(f"{API}/posts/{w['own']['id']}", headers=f)
    theirs = client.get(f"{API}/posts/{w['theirs']['id']}", headers=f).json()
    chat = client.get(f"{API}/messages/with/{w['busy'].id}", headers=f).json()
    group = client.get(f"{API}/chats/{w['group']['id']}/messages", headers=f).json()
    if default is Disposition.DELETE:
        assert own.status_code == 404
        assert theirs["mentions"] == [] and theirs["body"] == "Thanks @Former employee"
        assert theirs["like_count"] == 0 and theirs["comment_count"] == 0
        assert group["total"] == 0
    else:
        expected_author = w["heir"] if default is Disposition.SUCCESSOR else w["system"]
        assert own.json()["author"]["id"] == str(expected_author.id)
        # Mentions and messages never go to a successor: they fall back to the System User, which
        # names nobody in someone else's text.
        assert theirs["body"] == "Thanks @Former employee" and theirs["mentions"] == []
        assert group["items"][0]["sender"]["id"] == str(w["system"].id)
    assert chat["total"] == 0  # the conversation is no longer with that account
    assert "Busy" not in client.get(f"{API}/stream", headers=f).text
    if default is Disposition.SUCCESSOR:
        # The heir took over the audience seat of the restricted post.
        assert client.get(f"{API}/posts/{w['theirs']['id']}", headers=auth(db, w["heir"])).status_code == 200

    restore_user(db, w["busy"], actor=w["org"].admin)
    assert _snapshot(db) == before
    shown = client.get(f"{API}/posts/{w['theirs']['id']}", headers=f).json()
    assert shown["body"] == "Thanks @Busy Bee" and shown["mentions"][0]["status"] == "dismissed"


def test_erasing_a_person_removes_their_name_from_rendered_mentions(client: TestClient, db: Session) -> None:
    w = _busy_world(client, db)
    erase_user(db, w["busy"], actor=w["org"].admin, confirm=w["busy"].email)
    f = auth(db, w["friend"])
    text = client.get(f"{API}/stream", headers=f).text + client.get(f"{API}/chats", headers=f).text
    assert "Busy" not in text and "Bee" not in text
    db.expire_all()
    assert all("Busy" not in body for body in db.scalars(select(Post.body)))


def test_choosing_a_deleted_or_dismissed_person_is_refused_without_naming_them(
    client: TestClient, db: Session
) -> None:
    """An employee who sends a deleted colleague's id (kept from an old link, say) learns that the
    account is gone, not whose it was: every picker, mention and recipient refuses alike."""
    from roster.lifecycle.users import dismiss_user

    o = make_org(db, plan="enterprise")
    employee = make_user(db, o.org)
    gone = make_user(db, o.org, first_name="Zelda", last_name="Gone")
    left = make_user(db, o.org, first_name="Lena", last_name="Left")
    delete_user(db, gone, actor=o.admin, confirm=gone.email)
    dismiss_user(db, left, actor=o.admin)
    system = get_system_user(db, o.org.id)
    headers = auth(db, employee)
    for person, says in [
        (gone, "account was deleted"),
        (left, "no longer active"),
        (system, "System User cannot be chosen"),
    ]:
        who = str(person.id)
        for path, body in [
            ("/api/v1/posts", {"body": "Hi", "mentions": [who]}),
            ("/api/v1/tasks", {"title": "T", "responsible_id": who}),
            ("/api/v1/tasks", {"title": "T", "responsible_id": str(employee.id), "participant_ids": [who]}),
            ("/api/v1/messages", {"to_user_id": who, "body": "Hi"}),
            ("/api/v1/crm/leads", {"title": "L", "responsible_id": who}),
        ]:
            answer = client.post(path, json=body, headers=headers)
            assert answer.status_code == 422, (path, answer.text)
            problem = answer.json()
            assert problem["code"] == "inactive_user" and problem["user_id"] == who, (path, problem)
            assert says in problem["detail"], (path, problem)
            assert "Zelda" not in answer.text and "Lena" not in answer.text, (path, problem)
