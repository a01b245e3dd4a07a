"""Forms answer with a redirect to a page (post/redirect/get), so Reload and Back never send them
again, and a refused form comes back with what was typed."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster.lifecycle.invitations import invite_user
from roster.lifecycle.users import provision_user
from roster.scim.models import ScimToken
from roster.settings import Settings
from tests.factories import make_org, make_user
from tests.test_web import HTML, sign_in, sign_in_with_the_form

SECRET = re.compile(r'<p class="secret" id="new-token">([^<]+)</p>')


def _send(client: TestClient, path: str, csrf: str, data: dict[str, object] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    """Post a form as a browser does, without following the answer's redirect."""
    return client.post(
        path, data={"csrf_token": csrf, **(data or {})}, headers=HTML, follow_redirects=False, **kwargs
    )


def _scim_tokens(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ScimToken)) or 0


def test_a_new_scim_token_is_shown_once_after_the_redirect_and_a_reload_neither_shows_nor_makes_another(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)

    created = _send(client, "/admin/scim-tokens", csrf, {"name": "Okta"})
    assert created.status_code == 303 and created.headers["location"].startswith("/admin/settings")
    assert "rst_" not in created.headers["set-cookie"]  # the secret travels sealed, never as itself
    page = client.get(created.headers["location"], headers=HTML)
    secret = SECRET.search(page.text)
    assert page.status_code == 200 and "copy it now" in page.text and secret
    assert page.headers["cache-control"] == "no-store"
    users = client.get("/scim/v2/Users?count=1", headers={"authorization": f"Bearer {secret.group(1)}"})
    assert users.status_code == 200

    reloaded = client.get(created.headers["location"], headers=HTML)
    assert reloaded.status_code == 200 and "Okta" in reloaded.text
    assert not SECRET.search(reloaded.text) and secret.group(1) not in reloaded.text
    assert _scim_tokens(db) == 1


def test_revoking_a_scim_token_twice_says_it_is_revoked_already_and_records_it_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The second tab, or Back and the button again: what was asked is done."""
    from roster.lifecycle.models import AuditEvent
    from roster.scim.tokens import create_scim_token

    o = make_org(db)
    token = create_scim_token(db, o.org.id, actor=o.admin, name="Okta").token
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    for _ in range(2):
        answer = client.post(
            f"/admin/scim-tokens/{token.id}/revoke",
            data={"csrf_token": csrf},
            headers=HTML,
            follow_redirects=True,
        )
        assert answer.status_code == 200 and answer.url.path == "/admin/settings"
    assert "That SCIM token was revoked already." in answer.text
    revoked = db.scalars(select(AuditEvent).where(AuditEvent.action == "scim_token.revoked")).all()
    assert len(revoked) == 1
    unknown = client.post(
        f"/admin/scim-tokens/{uuid.uuid4()}/revoke", data={"csrf_token": csrf}, headers=HTML
    )
    assert unknown.status_code == 404


def test_a_sealed_secret_opens_only_for_the_session_it_was_made_for(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    created = _send(client, "/admin/scim-tokens", csrf, {"name": "Okta"})
    assert created.status_code == 303
    sign_in(client, db, settings, o.admin)  # another session of the same admin, same cookie jar
    page = client.get("/admin/settings", headers=HTML)
    assert page.status_code == 200 and not SECRET.search(page.text)


def test_a_refused_plan_change_returns_to_the_settings_page_with_the_plan_still_chosen(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db, plan="plus")
    for n in range(12):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@example.test", settings=settings)
    csrf = sign_in(client, db, settings, o.admin)

    refused = _send(client, "/admin/settings/plan", csrf, {"plan": "free"})
    assert refused.status_code == 303
    page = client.get(refused.headers["location"], headers=HTML)
    assert page.status_code == 200 and str(page.url).startswith("http://testserver/admin/settings?")
    assert "Not changed:" in page.text
    assert re.search(r'<input type="radio" name="plan" value="free" checked>', page.text)
    assert not re.search(r'value="plus" checked', page.text)
    db.refresh(o.org)
    assert o.org.plan == "plus"


def test_a_plan_too_small_leads_to_the_seats_it_names_for_freeing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """ "Revoke pending invitations or dismiss people first": the refusal links to where that is
    done, the pending invitations while there are any, else the active people."""
    o = make_org(db, plan="plus")
    for n in range(12):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@example.test", settings=settings)
    csrf = sign_in(client, db, settings, o.admin)
    page = client.get(
        _send(client, "/admin/settings/plan", csrf, {"plan": "free"}).headers["location"], headers=HTML
    )
    assert re.search(
        r'<a class="[^"]*alert-action" href="/people/invited">See pending invitations</a>', page.text
    )

    other = make_org(db, plan="plus")
    for n in range(12):
        provision_user(
            db,
            other.org.id,
            actor=other.admin,
            email=f"p{n}@example.test",
            first_name="Pat",
            last_name=f"P{n}",
        )
    db.flush()
    csrf = sign_in(client, db, settings, other.admin)
    page = client.get(
        _send(client, "/admin/settings/plan", csrf, {"plan": "free"}).headers["location"], headers=HTML
    )
    assert "Not changed:" in page.text
    assert re.search(r'<a class="[^"]*alert-action" href="/people">See active people</a>', page.text)


def test_refused_settings_come_back_as_they_were_entered(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    refused = _send(client, "/admin/settings", csrf, {"restore_window_days": "0"})
    assert refused.status_code == 422 and "The restore window is 1 to 3650 days" in refused.text
    field = re.search(r'<input id="f-window"[^>]*>', refused.text)
    assert field and 'value="0"' in field.group(0)
    for name in ("show_former_employee_names", "employees_may_change_photo"):
        box = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', refused.text)
        assert box and "checked" not in box.group(0), name
    not_a_number = _send(
        client, "/admin/settings", csrf, {"restore_window_days": "ten", "employees_may_change_photo": "on"}
    )
    assert not_a_number.status_code == 422 and 'value="ten"' in not_a_number.text
    box = re.search(r'<input type="checkbox" name="show_former_employee_names"[^>]*>', not_a_number.text)
    assert box and "checked" not in box.group(0)
    db.refresh(o.org)
    assert o.org.restore_window_days == 30 and o.org.show_former_employee_names


def test_a_bulk_invitation_with_a_typo_keeps_the_address_to_correct_and_the_role(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    answer = _send(
        client,
        "/people/invite/bulk",
        csrf,
        {"emails": "ana@example.test\nbob@@example.test\nnot-an-email", "role": "admin"},
    )
    assert "1 invitation sent" in answer.text and "2 not invited" in answer.text
    box = re.search(r'<textarea id="f-emails"[^>]*>([^<]*)</textarea>', answer.text)
    assert box and box.group(1).split() == ["bob@@example.test", "not-an-email"]
    role = re.search(r'<select id="f-role-many".*?</select>', answer.text, re.S)
    assert role and '<option value="admin" selected>' in role.group(0)

    empty = _send(client, "/people/invite/bulk", csrf, {"emails": " ", "role": "admin"})
    role = re.search(r'<select id="f-role-many".*?</select>', empty.text, re.S)
    assert empty.status_code == 422 and role and '<option value="admin" selected>' in role.group(0)


def test_back_after_dismissing_someone_finds_no_dismiss_button(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    csrf = sign_in(client, db, settings, o.admin)
    form = client.get(f"/people/{leaver.id}/dismiss", headers=HTML)
    assert "Dismiss Lee Leaver</button>" in form.text
    assert _send(client, f"/people/{leaver.id}/dismiss", csrf).status_code == 303

    again = client.get(f"/people/{leaver.id}/dismiss", headers=HTML, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/people/{leaver.id}"
    card = client.get(again.headers["location"], headers=HTML)
    assert "Lee Leaver is dismissed already." in card.text and "Dismiss Lee Leaver</button>" not in card.text
    rehire = client.get(f"/people/{leaver.id}/rehire", headers=HTML)
    assert "Rehire Lee Leaver</button>" in rehire.text
    assert _send(client, f"/people/{leaver.id}/rehire", csrf).status_code == 303
    back = client.get(f"/people/{leaver.id}/rehire", headers=HTML)
    assert "Lee Leaver is active already." in back.text and "Rehire Lee Leaver</button>" not in back.text


def test_a_refused_invitation_acceptance_comes_back_on_a_get_with_the_name_typed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    _invitation, url = invite_user(
        db, o.org.id, actor=o.admin, email="newcomer@example.test", settings=settings
    )
    path = "/invite/" + url.rsplit("/invite/", 1)[1]
    form = client.get(path, headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf

    refused = _send(
        client,
        path,
        csrf.group(1),
        {
            "first_name": "Nia",
            "last_name": "Newcomer",
            "password": "long-enough-1",
            "password_again": "other-1",
        },
    )
    assert refused.status_code == 303 and refused.headers["location"] == path
    page = client.get(path, headers=HTML)
    assert page.status_code == 200 and "The two passwords are not the same." in page.text
    assert 'value="Nia"' in page.text and 'value="Newcomer"' in page.text
    assert "long-enough-1" not in page.text
    # The kept form is for that one page: a reload starts afresh.
    assert "The two passwords are not the same." not in client.get(path, headers=HTML).text

    joined = _send(
        client,
        path,
        csrf.group(1),
        {
            "first_name": "Nia",
            "last_name": "Newcomer",
            "password": "long-enough-1",
            "password_again": "long-enough-1",
        },
    )
    assert joined.status_code == 303 and joined.headers["location"] == "/stream"


def test_the_deletion_review_is_a_page_of_its_own_and_back_after_deleting_offers_nothing_to_resend(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    tasks.create_task(db, actor=o.admin, title="Hand over the keys", responsible_id=leaver.id)
    csrf = sign_in(client, db, settings, o.admin)
    step_one = client.get(f"/people/{leaver.id}/delete", headers=HTML)
    form = re.search(
        r'<form method="(\w+)" action="/people/[^"]+/delete/review">(.*?)</form>', step_one.text, re.S
    )
    assert form and form.group(1) == "get" and "csrf_token" not in form.group(2)

    review_path = f"/people/{leaver.id}/delete/review"
    review = client.get(review_path, params={"kind:tasks.task.responsible": "system_user"}, headers=HTML)
    assert review.status_code == 200 and "Type the email to confirm" in review.text
    deleted = _send(
        client,
        f"/people/{leaver.id}/delete",
        csrf,
        {"kind:tasks.task.responsible": "system_user", "confirm": leaver.email},
    )
    assert deleted.status_code == 303

    back = client.get(review_path, params={"kind:tasks.task.responsible": "system_user"}, headers=HTML)
    assert "Lee Leaver is already deleted." in back.text and "Type the email to confirm" not in back.text


def test_a_resent_invitations_new_link_is_shown_once_and_works(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    invitation, old_url = invite_user(db, o.org.id, actor=o.admin, email="late@x.test", settings=settings)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    resent = _send(client, f"/people/invitations/{invitation.id}/resend", csrf)
    assert resent.status_code == 303 and resent.headers["location"] == "/people/invited"
    page = client.get("/people/invited", headers=HTML)
    link = re.search(r'<code class="grow invite-link">([^<]+)</code>', page.text)
    assert link and "New link for late@x.test" in page.text and link.group(1) != old_url
    assert page.headers["cache-control"] == "no-store"
    token = link.group(1).rsplit("/invite/", 1)[1]
    assert client.get("/api/v1/invitations/lookup", params={"token": token}).status_code == 200
    assert (
        client.get("/api/v1/invitations/lookup", params={"token": old_url.rsplit("/", 1)[1]}).status_code
        == 404
    )
    reloaded = client.get("/people/invited", headers=HTML)
    assert link.group(1) not in reloaded.text and "late@x.test" in reloaded.text


def test_a_form_sent_after_the_session_ended_signs_in_back_to_the_page_it_was_on(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Its own address answers only POST: signing in and going there would end on a 405."""
    o = make_org(db)
    came_from = {
        "http://testserver/stream?page=2": "/login?next=%2Fstream%3Fpage%3D2",
        "http://testserver/profile": "/login?next=%2Fprofile",
        "http://testserver/people/invite/bulk": "/login",  # a refused bulk invitation's page: POST only
        "https://elsewhere.test/stream": "/login",
        "": "/login",
    }
    for referer, login in came_from.items():
        headers = {**HTML, "referer": referer} if referer else HTML
        sent = client.post("/stream/posts", data={"body": "Hello"}, headers=headers, follow_redirects=False)
        assert (sent.status_code, sent.headers["location"]) == (303, login), referer
    asked = client.get("/tasks?role=creator", headers=HTML, follow_redirects=False)
    assert asked.headers["location"] == "/login?next=%2Ftasks%3Frole%3Dcreator"
    signed_in = sign_in_with_the_form(client, o.org, o.admin, page="/login?next=%2Fprofile", next="/profile")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/profile")


def test_a_delete_or_a_restore_sent_twice_says_it_was_done_already_and_does_it_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """A second tab, or Back and the button again: the second send finds the object in the trash
    (or back out of it) and says so on the page it came from, instead of "not found"."""
    from roster.crm import service as crm
    from roster.stream import service as stream
    from roster.tasks import service as tasks
    from roster.trash.models import TrashItem

    o = make_org(db)
    ann, bob = make_user(db, o.org), make_user(db, o.org)
    task = tasks.create_task(db, actor=ann, title="Renew the lease", responsible_id=ann.id)
    lead = crm.create_lead(db, actor=ann, title="Northwind", responsible_id=ann.id)
    post = stream.create_post(db, actor=ann, body="Hello")
    comment = stream.add_comment(db, post, actor=ann, body="Hi")
    db.flush()
    csrf = sign_in(client, db, settings, ann)
    sends = [
        (
            f"/stream/posts/{post.id}/comments/{comment.id}/delete",
            "/stream",
            "The comment is in the trash already.",
        ),
        (f"/stream/posts/{post.id}/delete", "/stream", "The post is in the trash already."),
        (f"/tasks/{task.id}/delete", "/tasks", "The task is in the trash already."),
        (f"/crm/leads/{lead.id}/delete", "/crm", "The lead is in the trash already."),
    ]
    for path, back, said in sends:
        first = client.post(path, data={"csrf_token": csrf}, headers=HTML)
        again = client.post(path, data={"csrf_token": csrf}, headers=HTML)
        assert (first.status_code, again.status_code, again.url.path) == (200, 200, back), path
        assert said in again.text and ">Undo</button>" in again.text, path
    items = db.scalars(select(TrashItem).where(TrashItem.org_id == o.org.id)).all()
    assert sorted(i.kind for i in items) == ["comment", "lead", "post", "task"]

    restore = f"/trash/{next(i.id for i in items if i.kind == 'task')}/restore"
    first = client.post(restore, data={"csrf_token": csrf}, headers=HTML)
    again = client.post(restore, data={"csrf_token": csrf}, headers=HTML)
    assert (first.status_code, again.status_code, again.url.path) == (200, 200, "/trash")
    assert "It was restored already." in again.text

    # Someone who neither deleted it nor is an admin learns nothing: the lead is not theirs to see.
    sign_in(client, db, settings, bob)
    csrf = sign_in(client, db, settings, bob)
    foreign = client.post(f"/crm/leads/{lead.id}/delete", data={"csrf_token": csrf}, headers=HTML)
    assert foreign.status_code == 404 and "in the trash already" not in foreign.text
