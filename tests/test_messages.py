"""Direct messages and group chats: membership, unread counts, refusals, and how people show; a
group chat's members managed from its page."""

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
    assert "Nobody was added." in refused.text and "is not an active user" in refused.text
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
