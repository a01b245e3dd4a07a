"""Direct messages and group chats: membership, unread counts, refusals, and how people show."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.accounts.service import get_system_user
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.messages.models import Chat, ChatMember, Message
from roster.messages.service import send_direct_message
from tests.dbutil import DatabaseFactory
from tests.factories import auth, make_org, make_user

API = "/api/v1"


def _count(db: Session, model: type[Any]) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _dm(client: TestClient, headers: dict[str, str], to: User, body: str) -> Any:
    answer = client.post(f"{API}/messages", json={"to_user_id": str(to.id), "body": body}, headers=headers)
    assert answer.status_code == 201, answer.text
    clock.advance(timedelta(seconds=1))
    return answer.json()


def _chats(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get(f"{API}/chats", headers=headers)
    assert answer.status_code == 200, answer.text
    return {c["id"]: c for c in answer.json()["items"]}


def test_direct_messages_between_two_people_share_one_chat(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org, first_name="Ann"), make_user(db, o.org, first_name="Ben")
    first = _dm(client, auth(db, ann), ben, "Lunch?")
    assert first["sender"]["id"] == str(ann.id) and first["body"] == "Lunch?"
    second = _dm(client, auth(db, ann), ben, "At noon")
    reply = _dm(client, auth(db, ben), ann, "Sure")
    assert first["chat_id"] == second["chat_id"] == reply["chat_id"]
    assert _count(db, Chat) == 1 and _count(db, ChatMember) == 2

    chat = _chats(client, auth(db, ann))[first["chat_id"]]
    assert chat["kind"] == "direct"
    assert {m["id"] for m in chat["members"]} == {str(ann.id), str(ben.id)}


def test_a_conversation_is_newest_first_paged_and_reading_it_clears_unread(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    sent = [_dm(client, auth(db, ann), ben, f"Message {n}") for n in range(5)]
    ben_headers = auth(db, ben)
    chat_id = sent[0]["chat_id"]
    assert _chats(client, ben_headers)[chat_id]["unread_count"] == 5
    assert _chats(client, auth(db, ann))[chat_id]["unread_count"] == 0  # your own messages are read

    page = client.get(f"{API}/messages/with/{ann.id}?per_page=2", headers=ben_headers).json()
    assert page["total"] == 5 and page["chat_id"] == chat_id
    assert [m["id"] for m in page["items"]] == [sent[4]["id"], sent[3]["id"]]
    rest = client.get(f"{API}/messages/with/{ann.id}?per_page=2&page=3", headers=ben_headers).json()
    assert [m["id"] for m in rest["items"]] == [sent[0]["id"]]
    assert _chats(client, ben_headers)[chat_id]["unread_count"] == 0

    clock.advance(timedelta(seconds=1))
    _dm(client, auth(db, ann), ben, "One more")
    assert _chats(client, ben_headers)[chat_id]["unread_count"] == 1
    client.get(f"{API}/chats/{chat_id}/messages", headers=ben_headers)
    assert _chats(client, ben_headers)[chat_id]["unread_count"] == 0


def test_a_conversation_with_someone_never_messaged_is_empty(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org, dismissed=True)
    answer = client.get(f"{API}/messages/with/{ben.id}", headers=auth(db, ann))
    assert answer.json() == {"items": [], "total": 0, "chat_id": None}
    assert client.get(f"{API}/messages/with/{uuid.uuid4()}", headers=auth(db, ann)).status_code == 404


def test_messaging_someone_who_is_not_active_is_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    ann = make_user(db, o.org)
    dismissed = make_user(db, o.org, dismissed=True)
    stranger = make_user(db, make_org(db).org)
    headers = auth(db, ann)
    cases = [
        (dismissed.id, "inactive_user"),
        (get_system_user(db, o.org.id).id, "inactive_user"),
        (uuid.uuid4(), "unknown_user"),
        (stranger.id, "unknown_user"),
        (ann.id, "validation_failed"),
    ]
    for person_id, code in cases:
        answer = client.post(
            f"{API}/messages", json={"to_user_id": str(person_id), "body": "Hi"}, headers=headers
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
    assert _count(db, Chat) == 0 and _count(db, Message) == 0


def test_a_direct_chat_with_someone_who_left_is_read_only(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    chat_id = _dm(client, auth(db, ann), ben, "Bye")["chat_id"]
    headers = auth(db, ann)
    db.execute(update(User).where(User.id == ben.id).values(status="dismissed"))
    answer = client.post(f"{API}/chats/{chat_id}/messages", json={"body": "Still there?"}, headers=headers)
    assert answer.status_code == 422 and answer.json()["code"] == "inactive_user"
    history = client.get(f"{API}/messages/with/{ben.id}", headers=headers).json()
    assert history["total"] == 1 and history["items"][0]["sender"]["id"] == str(ann.id)
    assert _count(db, Message) == 1


def test_bad_message_input_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    headers = auth(db, ann)
    for body, code in (("", "empty_text"), (" \x00\x1b ", "empty_text"), ("x" * 10_001, "text_too_long")):
        answer = client.post(
            f"{API}/messages", json={"to_user_id": str(ben.id), "body": body}, headers=headers
        )
        assert answer.status_code == 422 and answer.json()["code"] == code
    for payload in ({}, {"to_user_id": "nobody", "body": "x"}, {"to_user_id": str(ben.id)}):
        assert client.post(f"{API}/messages", json=payload, headers=headers).status_code == 422
    assert _count(db, Chat) == 0
    cleaned = _dm(client, headers, ben, "Hi\x00 there\u202e")
    assert cleaned["body"] == "Hi there"

    for payload, code in (
        ({"title": "Solo", "member_ids": []}, "validation_failed"),
        ({"title": "Solo", "member_ids": [str(ann.id)]}, "validation_failed"),
        ({"title": "x" * 201, "member_ids": [str(ben.id)]}, "text_too_long"),
        ({"title": "Team", "member_ids": [str(uuid.uuid4())]}, "unknown_user"),
    ):
        answer = client.post(f"{API}/chats", json=payload, headers=headers)
        assert answer.status_code == 422 and answer.json()["code"] == code, payload
    group = client.post(
        f"{API}/chats", json={"title": " Team\n\x07 news ", "member_ids": [str(ben.id)]}, headers=headers
    )
    assert group.status_code == 201 and group.json()["title"] == "Team news"
    chat_id = group.json()["id"]
    answer = client.post(f"{API}/chats/{chat_id}/messages", json={"body": "\t"}, headers=headers)
    assert answer.json()["code"] == "empty_text"


def test_only_members_see_a_group_chat(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben, cat, outsider = (make_user(db, o.org) for _ in range(4))
    answer = client.post(
        f"{API}/chats",
        json={"title": "Launch", "member_ids": [str(ben.id), str(cat.id)]},
        headers=auth(db, ann),
    )
    assert answer.status_code == 201
    chat = answer.json()
    assert chat["kind"] == "group" and chat["created_by"]["id"] == str(ann.id)
    assert [m["id"] for m in chat["members"]] == [str(ann.id), str(ben.id), str(cat.id)] or {
        m["id"] for m in chat["members"]
    } == {str(ann.id), str(ben.id), str(cat.id)}
    chat_id = chat["id"]
    sent = client.post(f"{API}/chats/{chat_id}/messages", json={"body": "Go!"}, headers=auth(db, ben))
    assert sent.status_code == 201

    cat_view = _chats(client, auth(db, cat))[chat_id]
    assert cat_view["unread_count"] == 1 and cat_view["title"] == "Launch"
    for headers in (auth(db, outsider), auth(db, o.admin)):
        assert chat_id not in _chats(client, headers)
        assert client.get(f"{API}/chats/{chat_id}", headers=headers).status_code == 404
        assert client.get(f"{API}/chats/{chat_id}/messages", headers=headers).status_code == 404
        answer = client.post(f"{API}/chats/{chat_id}/messages", json={"body": "Let me in"}, headers=headers)
        assert answer.status_code == 404
        answer = client.post(
            f"{API}/chats/{chat_id}/members", json={"user_id": str(outsider.id)}, headers=headers
        )
        assert answer.status_code == 404
        assert client.delete(f"{API}/chats/{chat_id}/members/{ben.id}", headers=headers).status_code == 404
    assert _count(db, Message) == 1


def test_members_are_added_and_removed_by_the_rules(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben, cat, dan = (make_user(db, o.org) for _ in range(4))
    dismissed = make_user(db, o.org, dismissed=True)
    chat_id = client.post(f"{API}/chats", json={"member_ids": [str(ben.id)]}, headers=auth(db, ann)).json()[
        "id"
    ]
    client.post(f"{API}/chats/{chat_id}/messages", json={"body": "Earlier"}, headers=auth(db, ann))
    members_url = f"{API}/chats/{chat_id}/members"

    answer = client.post(members_url, json={"user_id": str(dismissed.id)}, headers=auth(db, ben))
    assert answer.status_code == 422 and answer.json()["code"] == "inactive_user"
    answer = client.post(members_url, json={"user_id": str(uuid.uuid4())}, headers=auth(db, ben))
    assert answer.status_code == 422 and answer.json()["code"] == "unknown_user"
    added = client.post(members_url, json={"user_id": str(cat.id)}, headers=auth(db, ben))
    assert added.status_code == 200 and str(cat.id) in {m["id"] for m in added.json()["members"]}
    again = client.post(members_url, json={"user_id": str(cat.id)}, headers=auth(db, ben))
    assert len(again.json()["members"]) == 3
    history = client.get(f"{API}/chats/{chat_id}/messages", headers=auth(db, cat)).json()
    assert [m["body"] for m in history["items"]] == ["Earlier"]
    client.post(members_url, json={"user_id": str(dan.id)}, headers=auth(db, ann))

    # Only the one who started the chat removes others; anyone may leave.
    assert client.delete(f"{members_url}/{dan.id}", headers=auth(db, ben)).status_code == 403
    assert client.delete(f"{members_url}/{dan.id}", headers=auth(db, ann)).status_code == 204
    assert client.get(f"{API}/chats/{chat_id}", headers=auth(db, dan)).status_code == 404
    assert client.delete(f"{members_url}/{cat.id}", headers=auth(db, cat)).status_code == 204
    assert client.get(f"{API}/chats/{chat_id}/messages", headers=auth(db, cat)).status_code == 404
    assert client.delete(f"{members_url}/{cat.id}", headers=auth(db, ann)).status_code == 404
    remaining = client.get(f"{API}/chats/{chat_id}", headers=auth(db, ann)).json()
    assert {m["id"] for m in remaining["members"]} == {str(ann.id), str(ben.id)}

    direct_id = _dm(client, auth(db, ann), ben, "Private")["chat_id"]
    answer = client.post(
        f"{API}/chats/{direct_id}/members", json={"user_id": str(cat.id)}, headers=auth(db, ann)
    )
    assert answer.status_code == 409 and answer.json()["code"] == "not_a_group_chat"
    answer = client.delete(f"{API}/chats/{direct_id}/members/{ben.id}", headers=auth(db, ann))
    assert answer.status_code == 409


def test_chats_are_listed_by_latest_activity_and_paged(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann = make_user(db, o.org)
    people = [make_user(db, o.org) for _ in range(3)]
    chat_ids = [_dm(client, auth(db, ann), person, "hi")["chat_id"] for person in people]
    _dm(client, auth(db, ann), people[0], "back to you")
    headers = auth(db, ann)
    first = client.get(f"{API}/chats?per_page=2", headers=headers).json()
    second = client.get(f"{API}/chats?per_page=2&page=2", headers=headers).json()
    assert first["total"] == 3
    assert [c["id"] for c in first["items"] + second["items"]] == [chat_ids[0], chat_ids[2], chat_ids[1]]


def test_senders_who_left_show_marked_or_as_former_employee_or_where_they_moved(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="Ash")
    ben = make_user(db, o.org, first_name="Ben", last_name="Birch")
    cat = make_user(db, o.org, first_name="Cat", last_name="Cole")
    chat = client.post(
        f"{API}/chats", json={"member_ids": [str(ben.id), str(cat.id)]}, headers=auth(db, ann)
    ).json()
    for person in (ann, ben):
        client.post(f"{API}/chats/{chat['id']}/messages", json={"body": "hello"}, headers=auth(db, person))
        clock.advance(timedelta(seconds=1))
    db.execute(update(User).where(User.id == ben.id).values(status="dismissed"))
    headers = auth(db, cat)

    items = client.get(f"{API}/chats/{chat['id']}/messages", headers=headers).json()["items"]
    assert items[0]["sender"] == {
        "id": str(ben.id),
        "display_name": "Ben Birch",
        "status": "dismissed",
        "is_system": False,
    }

    o.org.show_former_employee_names = False
    db.flush()
    text = client.get(f"{API}/chats/{chat['id']}/messages", headers=headers).text
    assert "Former employee" in text and "Birch" not in text
    assert "Birch" not in client.get(f"{API}/chats", headers=headers).text

    # Deleting Ann with the default disposition moves her messages and membership to the System User.
    system = get_system_user(db, o.org.id)
    db.execute(update(Message).where(Message.sender_id == ann.id).values(sender_id=system.id))
    db.execute(update(ChatMember).where(ChatMember.user_id == ann.id).values(user_id=system.id))
    db.execute(update(User).where(User.id == ann.id).values(status="deleted"))
    items = client.get(f"{API}/chats/{chat['id']}/messages", headers=headers).json()["items"]
    assert items[1]["sender"]["is_system"] is True and items[1]["sender"]["display_name"] == "System User"


def test_hidden_messages_and_memberships_are_left_out(client: TestClient, db: Session) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    chat_id = _dm(client, auth(db, ann), ben, "From Ann")["chat_id"]
    _dm(client, auth(db, ben), ann, "From Ben")
    operation = uuid.uuid4()
    db.execute(update(Message).where(Message.sender_id == ben.id).values(hidden_by=operation))
    headers = auth(db, ann)
    page = client.get(f"{API}/chats/{chat_id}/messages", headers=headers).json()
    assert [m["body"] for m in page["items"]] == ["From Ann"] and page["total"] == 1
    assert _chats(client, headers)[chat_id]["unread_count"] == 0

    db.execute(update(ChatMember).where(ChatMember.user_id == ann.id).values(hidden_by=operation))
    assert client.get(f"{API}/chats/{chat_id}", headers=headers).status_code == 404
    assert _chats(client, headers) == {}


def test_another_organizations_chats_do_not_exist(client: TestClient, db: Session) -> None:
    mine, theirs = make_org(db), make_org(db)
    ann, ben = make_user(db, mine.org), make_user(db, mine.org)
    chat_id = _dm(client, auth(db, ann), ben, "Internal")["chat_id"]
    headers = auth(db, theirs.admin)
    assert client.get(f"{API}/chats", headers=headers).json() == {"items": [], "total": 0}
    assert client.get(f"{API}/messages/with/{ann.id}", headers=headers).status_code == 404
    for method, path, body in (
        ("GET", "", None),
        ("GET", "/messages", None),
        ("POST", "/messages", {"body": "x"}),
        ("POST", "/members", {"user_id": str(theirs.admin.id)}),
        ("DELETE", f"/members/{ann.id}", None),
    ):
        answer = client.request(method, f"{API}/chats/{chat_id}{path}", json=body, headers=headers)
        assert answer.status_code == 404, (method, path, answer.text)
    assert _count(db, Message) == 1


def test_the_demo_organization_has_conversations_with_unread_messages(
    client: TestClient, db: Session
) -> None:
    from roster.accounts.service import get_organization_by_slug
    from roster.demo import DEMO_SLUG, create_demo
    from tests.factories import PASSWORD

    assert create_demo(db, password=PASSWORD)
    org = get_organization_by_slug(db, DEMO_SLUG)
    assert org is not None
    anna = db.scalars(select(User).where(User.org_id == org.id, User.first_name == "Anna")).one()
    chats = client.get(f"{API}/chats", headers=auth(db, anna)).json()
    assert chats["total"] == 3
    assert {c["kind"] for c in chats["items"]} == {"direct", "group"}
    assert sum(c["unread_count"] for c in chats["items"]) >= 1
    group = next(c for c in chats["items"] if c["kind"] == "group")
    messages = client.get(f"{API}/chats/{group['id']}/messages", headers=auth(db, anna)).json()
    assert messages["total"] == 4 and messages["items"][0]["body"] == "Yes, let's invite both."


def test_two_first_messages_at_the_same_moment_open_one_chat(databases: DatabaseFactory) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    with transaction(factory) as session:
        o = make_org(session)
        ann, ben = make_user(session, o.org), make_user(session, o.org)
        org_id, ann_id, ben_id = o.org.id, ann.id, ben.id
    n = 6
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        own = make_engine(url)
        try:
            own_factory = make_sessionmaker(writer(own))
            barrier.wait(timeout=30)
            sender, recipient = (ann_id, ben_id) if i % 2 else (ben_id, ann_id)
            try:
                with transaction(own_factory) as session:
                    actor = session.get(User, (org_id, sender))
                    assert actor is not None
                    send_direct_message(session, actor=actor, to_user_id=recipient, body=f"first {i}")
                result = "sent"
            except Exception as exc:
                result = f"error: {type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            own.dispose()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcomes == ["sent"] * n
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Chat)) == 1
        assert session.scalar(select(func.count()).select_from(ChatMember)) == 2
        assert session.scalar(select(func.count()).select_from(Message)) == n
    engine.dispose()
