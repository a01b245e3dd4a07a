"""Direct messages and group chats: membership, unread counts, refusals, and how people show; a
group chat's members managed from its page."""

from __future__ import annotations

import re
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
from roster.settings import Settings
from tests.dbutil import DatabaseFactory
from tests.factories import auth, make_org, make_user
from tests.test_web import HTML, post, sign_in

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
    assert answer.json() == {"items": [], "total": 0, "chat_id": None, "chat_ids": []}
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
        assert answer.json()["code"] == code and answer.json()["field"] == "to_user_id"
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


# --- A group chat's members, in the pages ----------------------------------------------------------


def _group(db: Session, starter: User, *others: User, title: str = "Quarterly planning") -> Chat:
    from roster.messages.service import create_group_chat

    chat = create_group_chat(db, actor=starter, title=title, member_ids=[u.id for u in others])
    db.flush()
    return chat


def test_a_member_adds_people_to_a_group_chat_from_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    cat = make_user(db, o.org, first_name="Cat", last_name="Newcomer")
    dismissed = make_user(db, o.org, dismissed=True)
    chat = _group(db, ann, ben)
    sign_in(client, db, settings, cat)
    assert client.get(f"/messages/chats/{chat.id}", headers=HTML).status_code == 404

    csrf = sign_in(client, db, settings, ben)  # any member may add people, not only the one who started it
    page = client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    assert f'action="/messages/chats/{chat.id}/members"' in page
    assert 'data-picker data-name="user_ids" data-multiple' in page  # the new-chat form's picker
    assert f'<option value="{cat.id}"' in page and f'<option value="{ann.id}"' not in page
    done = post(client, f"/messages/chats/{chat.id}/members", csrf, {"user_ids": [str(cat.id)]})
    assert done.status_code == 200 and str(done.url).endswith(f"/messages/chats/{chat.id}")
    assert "Cat Newcomer is added to the chat." in done.text

    refused = post(client, f"/messages/chats/{chat.id}/members", csrf, {"user_ids": [str(dismissed.id)]})
    assert "Nobody was added." in refused.text and "That person is no longer active" in refused.text
    assert "Pick at least one person" in post(client, f"/messages/chats/{chat.id}/members", csrf).text

    sign_in(client, db, settings, cat)
    assert client.get(f"/messages/chats/{chat.id}", headers=HTML).status_code == 200
    assert f'href="/messages/chats/{chat.id}"' in client.get("/messages", headers=HTML).text


def test_adding_past_the_member_limit_is_refused_with_the_reason(
    client: TestClient, db: Session, settings: Settings, monkeypatch: Any
) -> None:
    from roster.messages import service

    o = make_org(db)
    ann, ben, cat = (make_user(db, o.org) for _ in range(3))
    chat = _group(db, ann, ben)
    monkeypatch.setattr(service, "MEMBER_LIMIT", 1)
    csrf = sign_in(client, db, settings, ann)
    refused = post(client, f"/messages/chats/{chat.id}/members", csrf, {"user_ids": [str(cat.id)]})
    assert refused.status_code == 200 and "A group chat has at most 1 members." in refused.text
    assert cat.id not in service.list_member_ids(db, chat)


def test_the_person_who_started_a_chat_removes_a_member_from_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service

    o = make_org(db)
    ann = make_user(db, o.org)
    ben = make_user(db, o.org, first_name="Ben", last_name="Member")
    cat = make_user(db, o.org)
    chat = _group(db, ann, ben, cat)
    remove_ben = f'action="/messages/chats/{chat.id}/members/{ben.id}/remove"'
    # Others may not remove anyone (the service's rule), so they are not offered the button.
    csrf = sign_in(client, db, settings, cat)
    assert remove_ben not in client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    refused = post(client, f"/messages/chats/{chat.id}/members/{ben.id}/remove", csrf)
    assert "Only the person who started the chat may remove others." in refused.text
    assert ben.id in service.list_member_ids(db, chat)

    csrf = sign_in(client, db, settings, ann)
    page = client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    assert remove_ben in page
    assert f'action="/messages/chats/{chat.id}/members/{ann.id}/remove"' not in page  # oneself: Leave
    done = post(client, f"/messages/chats/{chat.id}/members/{ben.id}/remove", csrf)
    assert done.status_code == 200 and "Ben Member is removed from the chat." in done.text
    again = post(client, f"/messages/chats/{chat.id}/members/{ben.id}/remove", csrf)
    assert "No such member of this chat." in again.text

    sign_in(client, db, settings, ben)
    assert client.get(f"/messages/chats/{chat.id}", headers=HTML).status_code == 404
    assert f'href="/messages/chats/{chat.id}"' not in client.get("/messages", headers=HTML).text


def test_a_member_leaves_a_group_chat_after_its_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service

    o = make_org(db)
    ann, ben = make_user(db, o.org), make_user(db, o.org)
    chat = _group(db, ann, ben, title="Book club")
    csrf = sign_in(client, db, settings, ben)
    page = client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    assert f'href="/messages/chats/{chat.id}/leave"' in page
    confirm = client.get(f"/messages/chats/{chat.id}/leave", headers=HTML)
    assert confirm.status_code == 200 and "Leave this chat?" in confirm.text
    assert f'<form method="post" action="/messages/chats/{chat.id}/leave">' in confirm.text
    assert ben.id in service.list_member_ids(db, chat)  # opening the confirmation changes nothing

    done = post(client, f"/messages/chats/{chat.id}/leave", csrf)
    assert done.status_code == 200 and str(done.url).endswith("/messages")
    assert "You left “Book club”." in done.text
    assert f'href="/messages/chats/{chat.id}"' not in done.text
    assert client.get(f"/messages/chats/{chat.id}", headers=HTML).status_code == 404
    assert service.list_member_ids(db, chat) == [ann.id]


def test_someone_outside_a_group_chat_gets_the_apis_refusal_from_its_pages(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service

    o = make_org(db)
    ann, ben, outsider = (make_user(db, o.org) for _ in range(3))
    chat = _group(db, ann, ben)
    api = client.post(
        f"{API}/chats/{chat.id}/members", json={"user_id": str(outsider.id)}, headers=auth(db, outsider)
    )
    csrf = sign_in(client, db, settings, outsider)
    for path in ("/members", f"/members/{ben.id}/remove", "/leave"):
        answer = post(client, f"/messages/chats/{chat.id}{path}", csrf, {"user_ids": [str(outsider.id)]})
        assert answer.status_code == api.status_code == 404, path
    assert client.get(f"/messages/chats/{chat.id}/leave", headers=HTML).status_code == 404
    assert set(service.list_member_ids(db, chat)) == {ann.id, ben.id}


def test_a_direct_conversation_offers_no_member_management(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    ann, ben, cat = (make_user(db, o.org) for _ in range(3))
    chat_id = send_direct_message(db, actor=ann, to_user_id=ben.id, body="Hi").chat_id
    db.flush()
    csrf = sign_in(client, db, settings, ann)
    for path in (f"/messages/with/{ben.id}", f"/messages/chats/{chat_id}"):
        page = client.get(path, headers=HTML).text
        assert "Hi" in page and "chat-members" not in page and "/leave" not in page and "/members" not in page
    assert client.get(f"/messages/chats/{chat_id}/leave", headers=HTML).status_code == 409
    refused = post(client, f"/messages/chats/{chat_id}/members", csrf, {"user_ids": [str(cat.id)]})
    assert "start a group chat instead" in refused.text


# --- Conversations whose other party left, and two people's several direct chats --------------


def _delete(db: Session, admin: User, person: User) -> None:
    from roster.lifecycle.deletion import delete_user

    delete_user(db, person, actor=admin, confirm=person.email)  # the default: to the System User
    db.flush()


def _unread_badges(page: str) -> dict[str, str]:
    """The conversation list's links and their unread counts ("" when none)."""
    nav = page[page.index('aria-label="Conversations"') : page.index('aria-label="Conversation"')]
    links = re.findall(r'<a href="([^"]+)".*?</a>', nav, flags=re.S)
    counts = re.findall(r'<a href="[^"]+".*?(?:badge-invited">(\d+)<|</a>)', nav, flags=re.S)
    return dict(zip(links, counts, strict=True))


def test_each_deleted_colleagues_direct_chat_opens_on_its_own_and_its_unread_mark_clears(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    john = make_user(db, o.org, first_name="Jöhn", last_name="Smith")
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    carlos = make_user(db, o.org, first_name="Carlos", last_name="Ruiz")
    with_anna = send_direct_message(db, actor=john, to_user_id=anna.id, body="Anna, the budget?").chat_id
    clock.advance(timedelta(seconds=1))
    with_carlos = send_direct_message(
        db, actor=carlos, to_user_id=john.id, body="Carlos here, call me"
    ).chat_id
    clock.advance(timedelta(seconds=1))
    _delete(db, o.admin, anna)
    _delete(db, o.admin, carlos)
    system = get_system_user(db, o.org.id)

    csrf = sign_in(client, db, settings, john)
    inbox = client.get("/messages", headers=HTML).text
    # One entry per conversation, each opened by its chat, told apart by when it started; never a
    # link "with the System User", and no names of the people who left.
    assert _unread_badges(inbox) == {
        f"/messages/chats/{with_carlos}": "1",
        f"/messages/chats/{with_anna}": "",
    }
    assert f"/messages/with/{system.id}" not in inbox
    assert inbox.count("Direct (former colleague) · since") == 2
    assert "Anna" not in inbox and "Carlos" not in inbox and "Originally" not in inbox

    carlos_page = client.get(f"/messages/chats/{with_carlos}", headers=HTML).text
    assert "Carlos here, call me" in carlos_page and "Anna, the budget?" not in carlos_page
    assert "Direct conversation (former colleague)" in carlos_page and "Group chat" not in carlos_page
    assert "is no longer here, so the conversation is read-only" in carlos_page
    assert 'name="body"' not in carlos_page
    assert _unread_badges(carlos_page)[f"/messages/chats/{with_carlos}"] == ""  # read by opening it
    anna_page = client.get(f"/messages/chats/{with_anna}", headers=HTML).text
    assert "Anna, the budget?" in anna_page and "Carlos here" not in anna_page
    refused = post(client, f"/messages/chats/{with_anna}", csrf, {"body": "Anyone?"})
    assert refused.status_code == 422 and "Anyone?" in refused.text

    # "The conversation with the System User" would run two people's into one: it is refused.
    answer = client.get(f"/messages/with/{system.id}", headers=HTML)
    assert answer.status_code == 200 and str(answer.url).endswith("/messages")
    assert "open them one by one from the list" in answer.text
    api = client.get(f"{API}/messages/with/{system.id}", headers=auth(db, john))
    assert api.status_code == 409 and api.json()["code"] == "not_a_person"
    chats = _chats(client, auth(db, john))
    assert {c["id"] for c in chats.values()} == {str(with_anna), str(with_carlos)}
    assert all(c["unread_count"] == 0 for c in chats.values())
    assert all(c["kind"] == "direct" for c in chats.values())


def test_an_admin_sees_whose_a_deleted_persons_direct_chat_originally_was(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    dora = make_user(db, o.org, first_name="Dora", last_name="Deleted")
    eve = make_user(db, o.org, first_name="Eve", last_name="Gone")
    with_dora = send_direct_message(
        db, actor=dora, to_user_id=o.admin.id, body="Keys are in the drawer"
    ).chat_id
    clock.advance(timedelta(seconds=1))
    with_eve = send_direct_message(db, actor=eve, to_user_id=o.admin.id, body="Bye").chat_id
    _delete(db, o.admin, dora)
    _delete(db, o.admin, eve)

    sign_in(client, db, settings, o.admin)
    inbox = client.get("/messages", headers=HTML).text
    assert "Originally with Dora Deleted" in inbox and "Originally with Eve Gone" in inbox
    page = client.get(f"/messages/chats/{with_dora}", headers=HTML).text
    assert "Keys are in the drawer" in page and "Originally with Dora Deleted" in page
    assert "Originally with Eve Gone" in client.get(f"/messages/chats/{with_eve}", headers=HTML).text


def test_a_dismissed_colleagues_direct_chat_opens_by_its_id_from_the_list(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    emma = make_user(db, o.org)
    lee = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    chat_id = send_direct_message(db, actor=lee, to_user_id=emma.id, body="Handing over").chat_id
    dismiss_user(db, lee, actor=o.admin)
    db.flush()
    sign_in(client, db, settings, emma)
    inbox = client.get("/messages", headers=HTML).text
    assert _unread_badges(inbox) == {f"/messages/chats/{chat_id}": "1"}
    assert "Lee Leaver" in inbox and "Direct (former colleague)" in inbox
    page = client.get(f"/messages/chats/{chat_id}", headers=HTML).text
    assert "Handing over" in page and "Lee Leaver" in page and "Group chat" not in page


def _merged_pair(db: Session) -> tuple[Any, User, User, User, uuid.UUID, uuid.UUID]:
    """John and Anna talk; John's duplicate account talked to Anna too; the duplicate is merged
    into John. Returns the organization, John, Anna, the duplicate and the two chats' ids."""
    from roster.lifecycle.deletion import merge_users

    o = make_org(db)
    john = make_user(db, o.org, first_name="John", last_name="Smith")
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    dup = make_user(db, o.org, first_name="John", last_name="Smith", email=f"john2@{o.org.slug}.test")
    said: list[tuple[User, User, str]] = [
        (john, anna, "1 John to Anna"),
        (anna, dup, "2 Anna to the duplicate"),
        (anna, john, "3 Anna to John"),
        (dup, anna, "4 the duplicate to Anna"),
        (anna, dup, "5 Anna to the duplicate again"),
    ]
    for sender, recipient, body in said:
        send_direct_message(db, actor=sender, to_user_id=recipient.id, body=body)
        clock.advance(timedelta(seconds=1))
    from roster.messages.service import find_direct_chat

    own = find_direct_chat(db, o.org.id, john.id, anna.id)
    theirs = find_direct_chat(db, o.org.id, dup.id, anna.id)
    assert own is not None and theirs is not None
    merge_users(db, dup, into=john, actor=o.admin, confirm=dup.email)
    db.flush()
    return o, john, anna, dup, own.id, theirs.id


def test_after_a_merge_the_conversation_with_someone_reads_every_chat_the_two_share(
    client: TestClient, db: Session
) -> None:
    from roster.lifecycle.deletion import restore_user

    o, john, anna, dup, own, theirs = _merged_pair(db)
    headers = auth(db, john)
    assert {c["id"]: c["unread_count"] for c in _chats(client, headers).values()} == {
        str(own): 1,  # "3"
        str(theirs): 1,  # "5": the duplicate had read "2" when it wrote "4"
    }
    page = client.get(f"{API}/messages/with/{anna.id}", headers=headers).json()
    assert [m["body"][0] for m in page["items"]] == ["5", "4", "3", "2", "1"]
    assert page["total"] == 5 and page["chat_id"] == str(own)
    assert page["chat_ids"] == [str(own), str(theirs)]
    assert {m["chat_id"] for m in page["items"]} == {str(own), str(theirs)}
    assert all(c["unread_count"] == 0 for c in _chats(client, headers).values())  # all read
    paged = client.get(f"{API}/messages/with/{anna.id}?per_page=2&page=2", headers=headers).json()
    assert [m["body"][0] for m in paged["items"]] == ["3", "2"]

    # Both of them see it whole, and new messages, from either side, go to the oldest chat.
    assert client.get(f"{API}/messages/with/{john.id}", headers=auth(db, anna)).json()["total"] == 5
    assert _dm(client, headers, anna, "6 John again")["chat_id"] == str(own)
    assert _dm(client, auth(db, anna), john, "7 Anna again")["chat_id"] == str(own)

    # Nothing was joined: restoring the duplicate takes its conversation back.
    restore_user(db, dup, actor=o.admin)
    db.flush()
    page = client.get(f"{API}/messages/with/{anna.id}", headers=headers).json()
    assert [m["body"][0] for m in page["items"]] == ["7", "6", "3", "1"]
    assert page["chat_ids"] == [str(own)]
    assert set(_chats(client, headers)) == {str(own)}


def test_after_a_merge_the_page_shows_one_conversation_with_every_message_and_its_unread_total(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _o, john, anna, _dup, own, theirs = _merged_pair(db)
    csrf = sign_in(client, db, settings, john)
    inbox = client.get("/messages", headers=HTML).text
    assert _unread_badges(inbox) == {f"/messages/with/{anna.id}": "2"}
    page = client.get(f"/messages/with/{anna.id}", headers=HTML).text
    bodies = re.findall(r"(\d) (?:John|Anna|the duplicate) to", page)
    assert bodies == ["1", "2", "3", "4", "5"]  # oldest first, as a conversation reads
    assert _unread_badges(page) == {f"/messages/with/{anna.id}": ""}
    sent = post(client, f"/messages/with/{anna.id}", csrf, {"body": "6 John to Anna"})
    assert sent.status_code == 200 and "6 John to Anna" in sent.text
    assert db.scalars(select(Message.chat_id).where(Message.body == "6 John to Anna")).one() == own
    # Each chat still opens by its id, with its own messages only.
    alone = client.get(f"/messages/chats/{theirs}", headers=HTML).text
    assert "2 Anna to the duplicate" in alone and "1 John to Anna" not in alone


def test_the_system_user_keeping_a_deleted_members_place_is_no_member_to_add_or_remove(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service

    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="Starter")
    ben = make_user(db, o.org, first_name="Ben", last_name="Leaving")
    cat = make_user(db, o.org, first_name="Cat", last_name="Staying")
    chat = _group(db, ann, ben, cat, o.admin, title="")
    _delete(db, o.admin, ben)
    system = get_system_user(db, o.org.id)
    assert system.id in service.list_member_ids(db, chat)  # restoring Ben puts him back

    csrf = sign_in(client, db, settings, ann)
    page = client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    members = page[page.index('id="chat-members"') :]
    assert "System User" not in members and f"/members/{system.id}/remove" not in members
    assert f'<option value="{system.id}"' not in page
    for person in (ann, cat, o.admin):
        assert f'<option value="{person.id}"' not in page  # in the chat already
    picker = re.search(r'data-name="user_ids" data-multiple data-exclude="([^"]+)"', page)
    assert picker is not None and str(cat.id) in picker.group(1).split()
    assert "Cat Staying" in page and "System User" not in page  # nor in the untitled chat's name
    assert f"/messages/chats/{chat.id}" in _unread_badges(page)

    refused = post(client, f"/messages/chats/{chat.id}/members/{system.id}/remove", csrf)
    assert "it cannot be removed" in refused.text
    api = client.delete(f"{API}/chats/{chat.id}/members/{system.id}", headers=auth(db, ann))
    assert api.status_code == 409 and api.json()["code"] == "system_user_immutable"
    add = client.post(
        f"{API}/chats/{chat.id}/members", json={"user_id": str(system.id)}, headers=auth(db, ann)
    )
    assert (
        add.status_code == 422 and add.json()["code"] == "inactive_user" and add.json()["field"] == "user_id"
    )
    assert system.id in service.list_member_ids(db, chat)
    group = client.post(
        f"{API}/chats", json={"title": "New", "member_ids": [str(system.id)]}, headers=auth(db, ann)
    )
    assert group.status_code == 422 and group.json()["field"] == "member_ids"

    # An admin in the chat sees whose place it keeps, and still no Remove button.
    sign_in(client, db, settings, o.admin)
    members = client.get(f"/messages/chats/{chat.id}", headers=HTML).text
    members = members[members.index('id="chat-members"') :]
    assert "System User" in members and "Originally Ben Leaving" in members
    assert f"/members/{system.id}/remove" not in members


def test_the_inbox_opens_a_conversation_with_someone_picked_there_without_javascript(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """ "Message someone" offers active colleagues (not the viewer, not those who left) with the
    group-chat form's picker; the plain form leads to the conversation, a bad choice is explained
    beside the picker."""
    o = make_org(db)
    ann = make_user(db, o.org, first_name="Ann", last_name="Able")
    ben = make_user(db, o.org, first_name="Ben", last_name="Busy")
    gone = make_user(db, o.org, first_name="Gus", last_name="Gone", dismissed=True)
    sign_in(client, db, settings, ann)
    inbox = client.get("/messages", headers=HTML).text
    form = re.search(r'<form method="get" action="/messages/with">(.*?)</form>', inbox, re.S)
    assert form is not None, inbox
    assert 'data-picker data-name="user_id"' in form.group(1) and "Message someone" in inbox
    offered = re.findall(r'<option value="([0-9a-f-]{36})"', form.group(1))
    assert str(ben.id) in offered and str(ann.id) not in offered and str(gone.id) not in offered

    opened = client.get(
        "/messages/with", params={"user_id": str(ben.id)}, headers=HTML, follow_redirects=False
    )
    assert opened.status_code == 303 and opened.headers["location"] == f"/messages/with/{ben.id}"
    page = client.get(opened.headers["location"], headers=HTML)
    assert page.status_code == 200 and "Ben Busy" in page.text and 'id="msg-body"' in page.text

    for choice, reason in (
        ("", "Choose the person to message."),
        ("not-an-id", "Choose the person to message."),
        (str(uuid.uuid4()), "That person is not an active colleague: choose someone else."),
        (str(gone.id), "That person is not an active colleague: choose someone else."),
        (
            str(get_system_user(db, o.org.id).id),
            "That person is not an active colleague: choose someone else.",
        ),
        (str(ann.id), "That is you: choose someone else."),
    ):
        refused = client.get(
            "/messages/with", params={"user_id": choice}, headers=HTML, follow_redirects=False
        )
        assert refused.status_code == 422, choice
        assert reason in refused.text and "Gus Gone" not in refused.text, choice
    assert _count(db, Chat) == 0  # looking changes nothing
    plain = client.get("/messages/with", headers=HTML, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/messages"
