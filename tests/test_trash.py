"""The trash: deleted posts, comments, tasks, files and leads come back as they were until the
restore window ends, and go for good after it. Everyone sees what they deleted; admins see all."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import User
from roster.crm.models import Lead
from roster.domain import errors
from roster.drive.models import DriveFile
from roster.lifecycle.audit import AuditEvent
from roster.lifecycle.deletion import DispositionPlan, delete_user, restore_user
from roster.references import Disposition
from roster.settings import Settings
from roster.stream.models import Comment, CommentMention, Like, Post, PostTag
from roster.tasks.models import Task, TaskObserver, TaskParticipant
from roster.trash.models import TrashItem
from roster.trash.service import move_to_trash, purge_expired_trash
from tests.factories import OrgWithAdmin, auth, make_org, make_user
from tests.test_web import HTML, sign_in

API = "/api/v1"
Headers = dict[str, str]


def _count(db: Session, model: type[Any], *, shown: bool = False) -> int:
    db.expire_all()
    query = select(func.count()).select_from(model)
    return int(db.scalar(query.where(model.hidden_by.is_(None)) if shown else query) or 0)


def _actions(db: Session, org_id: uuid.UUID) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq))
    )


def _trash(client: TestClient, headers: Headers, **params: str) -> list[dict[str, Any]]:
    answer = client.get(f"{API}/trash", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["items"])
    return list(body["items"])


# Each kind: make one as ``owner`` (returns its id and the URL that reads it), and its delete URL.
def _post(client: TestClient, h: Headers, o: OrgWithAdmin) -> tuple[str, str, str]:
    made = client.post(f"{API}/posts", json={"body": "Quarterly   results are in"}, headers=h).json()
    url = f"{API}/posts/{made['id']}"
    return made["id"], url, url


def _task(client: TestClient, h: Headers, o: OrgWithAdmin) -> tuple[str, str, str]:
    body = {
        "title": "Quarterly results",
        "responsible_id": str(o.admin.id),
        "observer_ids": [str(o.admin.id)],
    }
    made = client.post(f"{API}/tasks", json=body, headers=h).json()
    url = f"{API}/tasks/{made['id']}"
    return made["id"], url, url


def _file(client: TestClient, h: Headers, o: OrgWithAdmin) -> tuple[str, str, str]:
    files = {"file": ("Quarterly results.txt", b"numbers", "text/plain")}
    made = client.post(f"{API}/files", files=files, headers=h).json()
    url = f"{API}/files/{made['id']}"
    return made["id"], url, url


def _lead(client: TestClient, h: Headers, o: OrgWithAdmin) -> tuple[str, str, str]:
    made = client.post(
        f"{API}/crm/leads", json={"title": "Quarterly results", "responsible_id": str(o.admin.id)}, headers=h
    ).json()
    url = f"{API}/crm/leads/{made['id']}"
    return made["id"], url, url


def _comment(client: TestClient, h: Headers, o: OrgWithAdmin) -> tuple[str, str, str]:
    post = client.post(f"{API}/posts", json={"body": "Thread"}, headers=h).json()
    made = client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": "Quarterly results are in"}, headers=h
    ).json()
    return made["id"], f"{API}/posts/{post['id']}/comments", f"{API}/posts/{post['id']}/comments/{made['id']}"


KINDS: dict[str, Callable[[TestClient, Headers, OrgWithAdmin], tuple[str, str, str]]] = {
    "post": _post,
    "comment": _comment,
    "task": _task,
    "file": _file,
    "lead": _lead,
}


def _shows(client: TestClient, kind: str, read_url: str, object_id: str, headers: Headers) -> bool:
    answer = client.get(read_url, headers=headers)
    if kind == "comment":  # read through the post's comments
        return any(c["id"] == object_id for c in answer.json()["items"])
    return answer.status_code == 200


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_deleted_item_waits_in_the_trash_and_comes_back_as_it_was(
    client: TestClient, db: Session, kind: str
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org, first_name="Olga", last_name="Owner")
    h = auth(db, owner)
    object_id, read_url, delete_url = KINDS[kind](client, h, o)
    assert _shows(client, kind, read_url, object_id, h)
    shown_before = client.get(read_url, headers=h).json()

    assert client.delete(delete_url, headers=h).status_code == 204
    assert not _shows(client, kind, read_url, object_id, h)
    [item] = _trash(client, h)
    assert item["kind"] == kind and item["object_id"] == object_id
    assert item["title"] == (
        "Quarterly results.txt"
        if kind == "file"
        else "Quarterly results" + (" are in" if kind in ("post", "comment") else "")
    )
    assert item["owner"]["id"] == str(owner.id) and item["deleted_by"]["id"] == str(owner.id)
    assert item["restorable_until"].startswith(str((clock.now() + timedelta(days=30)).date()))
    assert _trash(client, auth(db, o.admin)) == [item]  # an admin sees the organization's trash
    assert _trash(client, h, kind=kind) == [item]
    assert _trash(client, h, kind="lead" if kind != "lead" else "task") == []

    restored = client.post(f"{API}/trash/{item['id']}/restore", headers=h)
    assert restored.status_code == 200, restored.text
    assert restored.json()["object_id"] == object_id
    assert client.get(read_url, headers=h).json() == shown_before
    assert _trash(client, h) == []
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=h).status_code == 404
    actions = _actions(db, o.org.id)
    assert actions[-2:] == [f"{kind}.deleted", f"{kind}.restored"]


def test_a_post_comes_back_with_its_comments_likes_mentions_and_tags(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author, reader = make_user(db, o.org), make_user(db, o.org)
    post = client.post(
        f"{API}/posts", json={"body": "Launch", "tags": [str(reader.id)]}, headers=auth(db, author)
    ).json()
    client.post(
        f"{API}/posts/{post['id']}/comments",
        json={"body": f"@[{author.id}] well done"},
        headers=auth(db, reader),
    )
    client.post(f"{API}/posts/{post['id']}/like", headers=auth(db, reader))
    models = (Post, Comment, CommentMention, Like, PostTag)
    before = {m: _count(db, m) for m in models}
    assert all(before.values())
    stream_before = client.get(f"{API}/stream", headers=auth(db, reader)).json()

    assert client.delete(f"{API}/posts/{post['id']}", headers=auth(db, o.admin)).status_code == 204
    assert all(_count(db, m, shown=True) == 0 for m in models)
    assert client.get(f"{API}/stream", headers=auth(db, reader)).json()["items"] == []
    # The author did not delete it: only the admin who did (and other admins) see it in the trash.
    assert _trash(client, auth(db, author)) == []
    [item] = _trash(client, auth(db, o.admin))
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, author)).status_code == 404

    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, o.admin)).status_code == 200
    assert {m: _count(db, m, shown=True) for m in models} == before
    assert client.get(f"{API}/stream", headers=auth(db, reader)).json() == stream_before


def test_a_task_comes_back_with_its_participants_and_observers(client: TestClient, db: Session) -> None:
    o = make_org(db)
    creator, helper, watcher = (make_user(db, o.org) for _ in range(3))
    body = {
        "title": "Move office",
        "responsible_id": str(creator.id),
        "participant_ids": [str(helper.id)],
        "observer_ids": [str(watcher.id)],
    }
    task = client.post(f"{API}/tasks", json=body, headers=auth(db, creator)).json()
    assert client.delete(f"{API}/tasks/{task['id']}", headers=auth(db, creator)).status_code == 204
    assert (
        client.get(f"{API}/tasks", params={"role": "participant"}, headers=auth(db, helper)).json()["total"]
        == 0
    )
    [item] = _trash(client, auth(db, creator))
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, creator)).status_code == 200
    assert (_count(db, TaskParticipant, shown=True), _count(db, TaskObserver, shown=True)) == (1, 1)
    again = client.get(f"{API}/tasks/{task['id']}", headers=auth(db, helper)).json()
    assert [p["id"] for p in again["participants"]] == [str(helper.id)]
    assert [p["id"] for p in again["observers"]] == [str(watcher.id)]


def test_a_comment_comes_back_only_after_its_post(client: TestClient, db: Session) -> None:
    o = make_org(db)
    author = make_user(db, o.org)
    h = auth(db, author)
    post = client.post(f"{API}/posts", json={"body": "Thread"}, headers=h).json()
    comments = f"{API}/posts/{post['id']}/comments"
    first = client.post(comments, json={"body": "First"}, headers=h).json()
    second = client.post(comments, json={"body": "Second"}, headers=h).json()
    assert client.delete(f"{comments}/{first['id']}", headers=h).status_code == 204
    assert client.delete(f"{API}/posts/{post['id']}", headers=h).status_code == 204
    by_kind = {item["kind"]: item for item in _trash(client, h)}
    assert set(by_kind) == {"post", "comment"}

    refused = client.post(f"{API}/trash/{by_kind['comment']['id']}/restore", headers=h)
    assert refused.status_code == 409 and refused.json()["code"] == "restore_blocked"
    assert _count(db, Comment, shown=True) == 0  # nothing changed

    assert client.post(f"{API}/trash/{by_kind['post']['id']}/restore", headers=h).status_code == 200
    # The post came back with the comment deleted with it, not the one deleted before it.
    assert [c["id"] for c in client.get(comments, headers=h).json()["items"]] == [second["id"]]
    assert client.post(f"{API}/trash/{by_kind['comment']['id']}/restore", headers=h).status_code == 200
    assert [c["id"] for c in client.get(comments, headers=h).json()["items"]] == [first["id"], second["id"]]


def test_after_the_window_nothing_comes_back_and_the_purge_destroys_it(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    o.org.restore_window_days = 2
    db.flush()
    h = auth(db, o.admin)
    lead_id, lead_url, _ = _lead(client, h, o)
    post_id, post_url, _ = _post(client, h, o)
    assert client.delete(lead_url, headers=h).status_code == 204
    clock.advance(timedelta(days=1))
    assert client.delete(post_url, headers=h).status_code == 204
    items = {item["kind"]: item for item in _trash(client, h)}

    clock.advance(timedelta(days=1, seconds=1))  # the lead's window has passed, not the post's
    refused = client.post(f"{API}/trash/{items['lead']['id']}/restore", headers=auth(db, o.admin))
    assert refused.status_code == 410 and refused.json()["code"] == "restore_window_passed"
    assert purge_expired_trash(db) == 1
    assert _count(db, Lead) == 0
    assert _count(db, Post) == 1
    assert [item["kind"] for item in _trash(client, auth(db, o.admin))] == ["post"]
    assert _actions(db, o.org.id)[-1] == "lead.purged"
    assert purge_expired_trash(db) == 0  # nothing is purged twice

    clock.advance(timedelta(days=1))
    assert purge_expired_trash(db) == 1
    assert _count(db, Post) == 0
    assert client.get(f"{API}/posts/{post_id}", headers=auth(db, o.admin)).status_code == 404
    assert client.get(f"{API}/crm/leads/{lead_id}", headers=auth(db, o.admin)).status_code == 404


def test_only_an_admin_empties_an_item_early(client: TestClient, db: Session) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    h = auth(db, owner)
    _, url, _ = _file(client, h, o)
    assert client.delete(url, headers=h).status_code == 204
    [item] = _trash(client, h)

    refused = client.delete(f"{API}/trash/{item['id']}", headers=h)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert _count(db, DriveFile) == 1
    assert client.delete(f"{API}/trash/{item['id']}", headers=auth(db, o.admin)).status_code == 204
    assert _count(db, DriveFile) == 0
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, o.admin)).status_code == 404
    assert _actions(db, o.org.id)[-2:] == ["file.deleted", "file.purged"]
    assert db.get(TrashItem, (o.org.id, uuid.UUID(item["id"]))).purged_at is not None  # type: ignore[union-attr]


def test_an_unknown_kind_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    answer = client.get(f"{API}/trash", params={"kind": "photo"}, headers=auth(db, o.admin))
    assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"


def test_work_in_the_trash_moves_with_its_deleted_owner_and_returns_to_the_system_user(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    leaver = make_user(db, o.org)
    task_id, url, _ = _task(client, auth(db, leaver), o)
    assert client.delete(url, headers=auth(db, leaver)).status_code == 204
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    [item] = _trash(client, auth(db, o.admin))
    assert item["owner"]["is_system"] is True  # moved like the rest of their work
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, o.admin)).status_code == 200
    assert client.get(url, headers=auth(db, o.admin)).json()["creator"]["is_system"] is True
    assert db.get(Task, (o.org.id, uuid.UUID(task_id))) is not None


@pytest.mark.parametrize("in_the_trash", ["before the deletion", "since"])
def test_restoring_the_person_gives_their_work_in_the_trash_back_to_them(
    client: TestClient, db: Session, in_the_trash: str
) -> None:
    o = make_org(db)
    author = make_user(db, o.org, first_name="Tracy", last_name="Trash")
    post_id, url, _ = _post(client, auth(db, author), o)
    if in_the_trash == "before the deletion":
        assert client.delete(url, headers=auth(db, author)).status_code == 204
    delete_user(db, author, actor=o.admin, confirm=author.email)
    if in_the_trash == "since":
        assert client.delete(url, headers=auth(db, o.admin)).status_code == 204
    result = restore_user(db, author, actor=o.admin)
    assert result.restored == {"stream.post.author": 1} and result.left == {}
    [item] = _trash(client, auth(db, o.admin))
    assert item["owner"]["id"] == str(author.id)
    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, o.admin)).status_code == 200
    shown = client.get(url, headers=auth(db, o.admin)).json()
    assert shown["id"] == post_id and shown["author"]["id"] == str(author.id)
    assert shown["author"]["status"] == "dismissed"


def test_the_trash_page_restores_and_an_admin_empties_behind_a_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    _lead_id, url, _ = _lead(client, auth(db, owner), o)
    assert client.delete(url, headers=auth(db, owner)).status_code == 204
    second_id, second_url, _ = _task(client, auth(db, owner), o)
    assert client.delete(second_url, headers=auth(db, owner)).status_code == 204
    lead_item, task_item = sorted(_trash(client, auth(db, owner)), key=lambda i: i["kind"])

    csrf = sign_in(client, db, settings, owner)
    page = client.get("/trash", headers=HTML)
    assert page.status_code == 200
    assert "Quarterly results" in page.text and f"/trash/{lead_item['id']}/restore" in page.text
    assert "Delete forever" not in page.text  # only admins
    answer = client.post(
        f"/trash/{lead_item['id']}/restore", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/trash"
    assert _count(db, Lead, shown=True) == 1
    assert client.get(f"/trash/{task_item['id']}/purge", headers=HTML).status_code == 403

    csrf = sign_in(client, db, settings, o.admin)
    confirm = client.get(f"/trash/{task_item['id']}/purge", headers=HTML)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert _count(db, Task) == 1  # asking changes nothing
    answer = client.post(
        f"/trash/{task_item['id']}/purge", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303
    assert _count(db, Task) == 0
    assert client.get("/trash", headers=HTML).text.count("/restore") == 0
    assert db.scalar(select(func.count()).select_from(User).where(User.org_id == o.org.id)) == 3
    assert second_id not in client.get("/tasks", headers=HTML).text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_restoring_on_the_trash_page_stays_there_and_links_to_what_came_back(
    client: TestClient, db: Session, settings: Settings, kind: str
) -> None:
    """Several items are restored one after another without leaving the Trash; the message
    leads to each one where it is shown again."""
    o = make_org(db)
    owner = make_user(db, o.org)
    h = auth(db, owner)
    object_id, read_url, delete_url = KINDS[kind](client, h, o)
    assert client.delete(delete_url, headers=h).status_code == 204
    [item] = _trash(client, h)
    csrf = sign_in(client, db, settings, owner)
    answer = client.post(
        f"/trash/{item['id']}/restore", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/trash"
    page = client.get("/trash", headers=HTML).text
    assert f"The {kind} is restored." in page and "The trash is empty" in page
    link = re.search(
        rf'<a class="btn btn-secondary btn-sm alert-action" href="([^"]+)">Open the {kind}</a>', page
    )
    post_id = read_url.split("/posts/", 1)[-1].split("/", 1)[0]  # a comment's (or post's) post
    expected = {
        "post": f"/stream#post-{object_id}",
        "comment": f"/stream#post-{post_id}",
        "task": f"/tasks/{object_id}",
        "file": f"/drive#file-{object_id}",
        "lead": f"/crm/leads/{object_id}/edit",
    }[kind]
    assert link is not None and html.unescape(link.group(1)) == expected
    path, _, anchor = expected.partition("#")
    shown = client.get(path, headers=HTML)
    assert shown.status_code == 200 and (not anchor or f'id="{anchor}"' in shown.text)


def test_deleting_what_a_concurrent_request_just_deleted_is_refused_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    task_id, _, _ = _task(client, auth(db, o.admin), o)
    move_to_trash(db, "task", org_id=o.org.id, object_id=uuid.UUID(task_id), actor=o.admin)
    items, events = _count(db, TrashItem), len(_actions(db, o.org.id))
    with pytest.raises(errors.NotFound, match="deleted already"), db.begin_nested():
        move_to_trash(db, "task", org_id=o.org.id, object_id=uuid.UUID(task_id), actor=o.admin)
    assert (_count(db, TrashItem), len(_actions(db, o.org.id))) == (items, events)


def test_every_kind_in_the_trash_has_its_three_audit_events_named() -> None:
    from roster.domain.audit import is_audit_action
    from roster.trash.registry import all_kinds

    for kind in all_kinds():
        for step in ("deleted", "restored", "purged"):
            assert is_audit_action(f"{kind.name}.{step}"), f"{kind.name}.{step}"


def test_the_audit_page_reads_a_trash_event(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    _, url, _ = _lead(client, auth(db, o.admin), o)
    assert client.delete(url, headers=auth(db, o.admin)).status_code == 204
    sign_in(client, db, settings, o.admin)
    page = client.get("/admin/audit", params={"action": "lead."}, headers=HTML).text
    assert "Lead moved to the trash" in page and "CRM lead" in page


def test_work_in_the_trash_of_a_person_deleted_with_their_work_comes_back_as_the_system_users(
    client: TestClient, db: Session
) -> None:
    """Their deletion hid their visible posts and moved the one in the trash to the System User, as
    it moves rows another operation hid: restored, it does not show the deleted person."""
    o = make_org(db)
    author = make_user(db, o.org, first_name="Dana", last_name="Gone")
    post_id, url, _ = _post(client, auth(db, author), o)
    _post(client, auth(db, author), o)  # still visible when they are deleted
    assert client.delete(url, headers=auth(db, author)).status_code == 204
    plan = DispositionPlan(kinds={"stream.post.author": Disposition.DELETE})
    delete_user(db, author, actor=o.admin, confirm=author.email, disposition=plan)
    [item] = _trash(client, auth(db, o.admin))
    assert item["owner"]["is_system"] is True

    assert client.post(f"{API}/trash/{item['id']}/restore", headers=auth(db, o.admin)).status_code == 200
    shown = client.get(f"{API}/stream", headers=auth(db, o.admin)).json()["items"]
    assert [(p["id"], p["author"]["is_system"]) for p in shown] == [(post_id, True)]


def test_a_comment_deleted_on_its_own_leaves_the_trash_when_its_post_is_removed_for_good(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    h = auth(db, o.admin)
    post = client.post(f"{API}/posts", json={"body": "Thread"}, headers=h).json()
    comments = f"{API}/posts/{post['id']}/comments"
    alone = client.post(comments, json={"body": "Deleted first"}, headers=h).json()
    client.post(comments, json={"body": "Deleted with the post"}, headers=h)
    assert client.delete(f"{comments}/{alone['id']}", headers=h).status_code == 204
    assert client.delete(f"{API}/posts/{post['id']}", headers=h).status_code == 204
    by_kind = {item["kind"]: item for item in _trash(client, h)}

    assert client.delete(f"{API}/trash/{by_kind['post']['id']}", headers=h).status_code == 204
    assert _count(db, Comment) == 0
    assert _trash(client, h) == []  # nothing is left that could never come back
    assert client.post(f"{API}/trash/{by_kind['comment']['id']}/restore", headers=h).status_code == 404
    assert _actions(db, o.org.id)[-2:] == ["post.purged", "comment.purged"]
    closed = db.scalars(
        select(AuditEvent).where(AuditEvent.org_id == o.org.id).order_by(AuditEvent.seq.desc())
    ).first()
    assert closed is not None and closed.details["by"] == "parent" and closed.details["with"] == post["id"]


def test_the_deletion_preview_counts_their_work_in_the_trash_apart(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Deleting a person moves their work in the trash too, so the preview says how much of it
    there is, apart from the visible count; rows an earlier deletion hid are in neither."""
    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Ving")
    gone = make_user(db, o.org)
    h, admin = auth(db, leaver), auth(db, o.admin)
    _post(client, h, o)
    _, trashed, _ = _post(client, h, o)
    assert client.delete(trashed, headers=h).status_code == 204
    theirs = client.post(f"{API}/posts", json={"body": "Theirs"}, headers=admin).json()
    client.post(f"{API}/posts/{theirs['id']}/comments", json={"body": "Mine, on theirs"}, headers=h)
    assert client.delete(f"{API}/posts/{theirs['id']}", headers=admin).status_code == 204
    restored_id, restored, _ = _lead(client, h, o)
    assert client.delete(restored, headers=h).status_code == 204
    [lead_item] = [i for i in _trash(client, h) if i["object_id"] == restored_id]
    assert client.post(f"{API}/trash/{lead_item['id']}/restore", headers=h).status_code == 200
    # A task they set for someone whose deletion hid it: hidden, but not in the trash.
    task = {"title": "Handover", "responsible_id": str(gone.id)}
    assert client.post(f"{API}/tasks", json=task, headers=h).status_code == 201
    plan = DispositionPlan(kinds={"tasks.task.responsible": Disposition.DELETE})
    delete_user(db, gone, actor=o.admin, confirm=gone.email, disposition=plan)

    answer = client.get(f"{API}/users/{leaver.id}/deletion-preview", headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    counts = {r["kind"]: (r["count"], r["in_trash"]) for r in body["references"]}
    assert counts["stream.post.author"] == (1, 1)
    assert counts["stream.comment.author"] == (0, 1)  # hidden with the post it was on
    assert counts["crm.lead.creator"] == (1, 0)  # restored: visible again
    assert counts["tasks.task.creator"] == (0, 0)
    assert body["total"] == sum(n for n, _ in counts.values())  # visible rows, as before
    assert body["total_in_trash"] == sum(t for _, t in counts.values()) >= 2

    sign_in(client, db, settings, o.admin)
    page = client.get(f"/people/{leaver.id}/delete", headers=HTML)
    assert page.status_code == 200
    assert "1 (and 1 in the trash)" in page.text
    assert f"(and {body['total_in_trash']} in the trash)</h2>" in page.text
    # A kind with only work in the trash is listed too: its disposition applies to that work.
    assert re.search(r"stream\.comment\.author</span></td>\s*<td[^>]*>0 \(and 1 in the trash\)", page.text)
    # Merging and erasing move it too, and say so; a handover is of live work only.
    for action in ("merge", "erase"):
        page = client.get(f"/people/{leaver.id}/{action}", headers=HTML)
        assert page.status_code == 200, action
        assert "<strong>0 (and 1 in the trash)</strong>" in page.text, action
    assert "in the trash" not in client.get(f"/people/{leaver.id}/transfer", headers=HTML).text


# Each kind a page deletes: its delete form's path and the page the person is on.
PAGE_DELETES = {
    "post": ("/stream/posts/{id}/delete", "/stream"),
    "task": ("/tasks/{id}/delete", "/tasks"),
    "file": ("/drive/{id}/delete", "/drive"),
    "lead": ("/crm/leads/{id}/delete", "/crm"),
}
UNDO = re.compile(
    r'<form method="post" action="([^"]+)" class="alert-action">.*?<button[^>]*>Undo</button>', re.S
)


@pytest.mark.parametrize("kind", sorted(PAGE_DELETES))
def test_the_message_after_a_delete_on_a_page_undoes_it(
    client: TestClient, db: Session, settings: Settings, kind: str
) -> None:
    o = make_org(db)
    owner = make_user(db, o.org)
    object_id, read_url, _ = KINDS[kind](client, auth(db, owner), o)
    delete_path, back = PAGE_DELETES[kind]
    csrf = sign_in(client, db, settings, owner)
    answer = client.post(
        delete_path.format(id=object_id), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == back
    [item] = _trash(client, auth(db, owner))
    page = client.get(back, headers=HTML).text
    assert "is moved to the trash" in page
    [undo] = UNDO.findall(page)
    assert html.unescape(undo) == f"/trash/{item['id']}/restore?next=%2F{back[1:]}"
    assert f'name="csrf_token" value="{csrf}"' in page
    assert not _shows(client, kind, read_url, object_id, auth(db, owner))

    answer = client.post(html.unescape(undo), data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == back  # where they were
    assert "is restored" in client.get(back, headers=HTML).text
    assert _shows(client, kind, read_url, object_id, auth(db, owner))
    assert _trash(client, auth(db, owner)) == []
    assert _actions(db, o.org.id)[-2:] == [f"{kind}.deleted", f"{kind}.restored"]
    assert UNDO.findall(client.get(back, headers=HTML).text) == []  # shown once


def test_the_undo_button_restores_only_for_who_may_and_returns_only_to_this_site(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    owner, other = make_user(db, o.org), make_user(db, o.org)
    task_id, read_url, _ = _task(client, auth(db, owner), o)
    h = auth(db, owner)
    title = "<b>Quarterly</b> & results"
    assert client.patch(read_url, json={"title": title}, headers=h).status_code == 200
    csrf = sign_in(client, db, settings, owner)
    page = client.post(f"/tasks/{task_id}/delete", data={"csrf_token": csrf}, headers=HTML).text
    assert "&lt;b&gt;Quarterly&lt;/b&gt; &amp; results" in page and "<b>Quarterly</b>" not in page
    [undo] = UNDO.findall(page)

    # The trash service decides who may restore: someone else does not even see the item.
    other_csrf = sign_in(client, db, settings, other)
    answer = client.post(html.unescape(undo), data={"csrf_token": other_csrf}, headers=HTML)
    assert answer.status_code == 404
    assert not _shows(client, "task", read_url, task_id, h)

    csrf = sign_in(client, db, settings, owner)
    offsite = undo.split("?")[0] + "?next=//evil.example/stream"
    answer = client.post(offsite, data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/trash"  # not the other site
    assert _shows(client, "task", read_url, task_id, h)
