"""The web pages without a browser: CSRF, who sees what, security headers, every page rendering."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.accounts.security import csrf_token_for
from roster.demo import create_demo
from roster.lifecycle.invitations import invite_user, revoke_invitation
from roster.lifecycle.seats import get_seat_ledger
from roster.settings import Settings
from roster.stream.models import Comment, Post
from tests.factories import PASSWORD, make_org, make_user

HTML = {"accept": "text/html"}
ADMIN_ONLY = [
    "/people/invited",
    "/people/dismissed",
    "/people/deleted",
    "/people/invite",
    "/admin/audit",
    "/admin/settings",
    "/admin/departments",
]


def sign_in(client: TestClient, db: Session, settings: Settings, user: User) -> str:
    """Give the client a browser session of the user; returns the session's CSRF token."""
    secret = accounts.issue_token(db, user, kind="session").secret
    client.cookies.set("roster_session", secret)
    return csrf_token_for(secret, settings.resolved_secret_key)


def sign_in_with_the_form(
    client: TestClient, org: Organization, user: User, *, page: str = "/login", **fields: str
) -> Response:
    """Sign in as a person would: the form at ``page``, its CSRF token, the organization, address
    and password (``fields`` add to them, ``next`` say), without following the redirect."""
    form = client.get(page, headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"organization": org.slug, "email": user.email, "password": PASSWORD, **fields}
    return client.post(
        "/login", data={**data, "csrf_token": token.group(1)}, headers=HTML, follow_redirects=False
    )


@pytest.fixture
def demo(db: Session, settings: Settings) -> tuple[User, User, list[User]]:
    """The demo organization: its admin, one employee, and everyone active."""
    create_demo(db, password=PASSWORD, settings=settings)
    org = accounts.get_organization_by_slug(db, "demo")
    assert org is not None
    people = list(
        db.scalars(select(User).where(User.org_id == org.id, User.is_system.is_(False)).order_by(User.email))
    )
    admin = next(u for u in people if u.is_admin)
    employee = next(u for u in people if not u.is_admin)
    return admin, employee, people


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    answer = client.get("/stream", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fstream"
    # API clients keep getting problem+json.
    assert client.get("/stream", follow_redirects=False).status_code == 401


def test_signing_in_sets_an_httponly_lax_session_cookie(client: TestClient, db: Session) -> None:
    o = make_org(db)
    answer = sign_in_with_the_form(client, o.org, o.admin)
    assert answer.status_code == 303 and answer.headers["location"] == "/stream"
    cookie = answer.headers["set-cookie"]
    assert "roster_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_the_sign_in_form_without_its_token_is_refused(client: TestClient, db: Session) -> None:
    o = make_org(db)
    answer = client.post(
        "/login",
        data={"organization": o.org.slug, "email": o.admin.email, "password": PASSWORD},
        headers=HTML,
    )
    assert answer.status_code == 403
    assert "The form has expired" in answer.text
    assert "roster_session" not in answer.headers.get("set-cookie", "")


def test_a_form_that_expired_says_so_and_leads_back_to_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """After signing in again in another tab, an open form's token is stale: nothing is refused to
    the person, so the page must not say it is "not for you"."""
    o = make_org(db)
    sign_in(client, db, settings, o.admin)
    answer = client.post(
        "/tasks",
        data={"title": "Renew the lease", "csrf_token": "stale"},
        headers={**HTML, "referer": "http://testserver/tasks?role=creator"},
    )
    assert answer.status_code == 403
    assert "<h1>This form has expired</h1>" in answer.text and "not for you" not in answer.text
    assert '<a class="btn" href="/tasks?role=creator">Back to the form</a>' in answer.text
    elsewhere = client.post(
        "/tasks",
        data={"title": "x", "csrf_token": "stale"},
        headers={**HTML, "referer": "https://evil.test/"},
    )
    assert "Back to the form" not in elsewhere.text and "<h1>This form has expired</h1>" in elsewhere.text


def test_wrong_credentials_are_explained_next_to_the_form(client: TestClient, db: Session) -> None:
    o = make_org(db)
    form = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    answer = client.post(
        "/login",
        data={
            "organization": o.org.slug,
            "email": o.admin.email,
            "password": "wrong",
            "csrf_token": token.group(1),
        },
        headers=HTML,
    )
    assert answer.status_code == 401
    assert "The organization, email or password is not right" in answer.text


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    refused = client.post("/stream/posts", data={"body": "Forged"}, headers=HTML, follow_redirects=False)
    assert refused.status_code == 403
    wrong = client.post(
        "/stream/posts", data={"body": "Forged", "csrf_token": "0" * 64}, headers=HTML, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert db.scalar(select(Post).where(Post.org_id == o.org.id)) is None
    accepted = client.post(
        "/stream/posts", data={"body": "Hello", "csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert accepted.status_code == 303
    assert db.scalar(select(Post.id).where(Post.org_id == o.org.id)) is not None


def test_employees_get_403_on_admin_pages_and_see_no_admin_links(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]]
) -> None:
    admin, employee, _people = demo
    csrf = sign_in(client, db, settings, employee)
    for path in [*ADMIN_ONLY, f"/people/{admin.id}/delete", f"/people/{admin.id}/dismiss"]:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 403, path
        assert "This page is not for you" in answer.text
        assert "for administrators" in answer.text
    refused = client.post(
        f"/people/{admin.id}/dismiss", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert refused.status_code == 403
    assert db.get(User, (admin.org_id, admin.id)).status == "active"  # type: ignore[union-attr]
    # What an employee may delete from these pages is their own writing on the stream.
    own = {
        f"/stream/posts/{post_id}/comments/{comment_id}/delete"
        for comment_id, post_id in db.execute(
            select(Comment.id, Comment.post_id).where(Comment.author_id == employee.id)
        )
    } | {
        f"/stream/posts/{post_id}/delete"
        for post_id in db.scalars(select(Post.id).where(Post.author_id == employee.id))
    }
    for path in ("/stream", "/people", f"/people/{admin.id}", "/profile"):
        html = client.get(path, headers=HTML).text
        assert set(re.findall(r'action="([^"]*/delete)"', html)) <= own, path
        html = re.sub(
            r'<form method="post" action="/stream/posts/[^"]*/delete".*?</form>', "", html, flags=re.S
        )
        for link in (
            "/admin/audit",
            "/admin/settings",
            "/admin/departments",
            "/people/invited",
            "/people/deleted",
            "/people/invite",
        ):
            assert f'href="{link}' not in html, (path, link)
        assert "/delete" not in html and "/dismiss" not in html


def test_pages_carry_a_strict_content_security_policy_and_no_inline_code(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]]
) -> None:
    admin, _employee, _people = demo
    sign_in(client, db, settings, admin)
    for path in ("/login", "/stream", "/people", "/admin/settings", "/no-such-page"):
        answer = client.get(path, headers=HTML)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
        assert " style=" not in answer.text and "<style" not in answer.text, path
        assert " on" + "click=" not in answer.text


def test_what_people_write_is_escaped(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    client.post("/stream/posts", data={"body": "<script>alert(1)</script>", "csrf_token": csrf}, headers=HTML)
    page = client.get("/stream", headers=HTML).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_every_page_renders_for_the_admin_on_the_demo(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]]
) -> None:
    admin, employee, _people = demo
    sign_in(client, db, settings, admin)
    paths = [
        "/stream",
        "/stream?page=2",
        "/tasks",
        "/tasks?role=responsible",
        "/drive",
        "/messages",
        f"/messages/with/{employee.id}",
        "/crm",
        "/crm?status=won",
        "/people",
        "/people?q=jo",
        "/profile",
        f"/people/{employee.id}",
        f"/people/{employee.id}/dismiss",
        f"/people/{employee.id}/delete",
        f"/people/{employee.id}/merge",
        f"/people/{employee.id}/erase",
        f"/people/{employee.id}/authorship",
        "/admin/audit?action=user.invited",
        *ADMIN_ONLY,
    ]
    for path in paths:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "<h1" in answer.text, path
    # "jo" finds Jöhn Smith and Anna Jones.
    found = client.get("/people?q=jo", headers=HTML).text
    assert "Jöhn Smith" in found and "Anna Jones" in found


def test_every_page_renders_for_an_employee_on_the_demo(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]]
) -> None:
    admin, employee, _people = demo
    sign_in(client, db, settings, employee)
    paths = [
        "/stream",
        "/tasks",
        "/drive",
        "/messages",
        f"/messages/with/{admin.id}",
        "/crm",
        "/people",
        "/profile",
        f"/people/{admin.id}",
    ]
    for path in paths:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, (path, answer.text[:500])


def test_a_missing_page_is_explained_for_people(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    sign_in(client, db, settings, o.admin)
    answer = client.get("/no-such-page", headers=HTML)
    assert answer.status_code == 404
    assert "We could not find that page" in answer.text
    assert client.get(f"/people/{uuid.uuid4()}", headers=HTML).status_code == 404


def test_another_organizations_person_does_not_exist(
    client: TestClient, db: Session, settings: Settings
) -> None:
    mine, theirs = make_org(db), make_org(db)
    stranger = make_user(db, theirs.org)
    sign_in(client, db, settings, mine.admin)
    for path in (f"/people/{stranger.id}", f"/people/{stranger.id}/delete", f"/messages/with/{stranger.id}"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert stranger.display_name not in answer.text


def test_a_full_plan_refusal_says_how_to_free_a_seat(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    for n in range(get_seat_ledger(db, o.org.id).available or 0):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)
    csrf = sign_in(client, db, settings, o.admin)
    answer = client.post(
        "/people/invite", data={"email": "one.more@example.test", "csrf_token": csrf}, headers=HTML
    )
    assert answer.status_code == 409
    assert "All seats are taken" in answer.text
    assert "To free a seat" in answer.text and "12 of 12" in answer.text


def test_every_page_names_the_plan_as_the_seat_meter_does(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """ "Free plan", capitalised, in the seat meter, the refusals of an invitation (one or many), of
    a rehire and of a smaller plan alike."""
    o = make_org(db, plan="plus")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", dismissed=True)
    invited = [
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)[0]
        for n in range(12)
    ]
    csrf = sign_in(client, db, settings, o.admin)
    smaller = post(client, "/admin/settings/plan", csrf, {"plan": "free"})
    assert "Not changed: the Free plan has 12 seats but 13 are in use." in smaller.text
    revoke_invitation(db, invited[0], actor=o.admin)
    moved = post(client, "/admin/settings/plan", csrf, {"plan": "free"})
    assert "You are on the Free plan now." in moved.text
    pages = [
        client.get("/people", headers=HTML),
        post(client, "/people/invite", csrf, {"email": "one.more@example.test"}),
        post(client, "/people/invite/bulk", csrf, {"emails": "two.more@example.test"}),
        post(client, f"/people/{leaver.id}/rehire", csrf),
    ]
    assert "Free plan ·" in pages[0].text
    for page in pages[1:]:
        assert "All 12 seats of the Free plan are in use" in page.text, page.text
    for page in [smaller, moved, *pages]:
        assert "free plan" not in page.text


def test_dismissing_signs_the_person_out_at_once(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    employee_session = accounts.issue_token(db, employee, kind="session").secret
    csrf = sign_in(client, db, settings, o.admin)
    answer = client.post(
        f"/people/{employee.id}/dismiss", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert answer.status_code == 303
    client.cookies.set("roster_session", employee_session)
    assert client.get("/stream", headers=HTML, follow_redirects=False).status_code == 303


def test_the_delete_wizard_requires_the_typed_email(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    employee = make_user(db, o.org)
    csrf = sign_in(client, db, settings, o.admin)
    wrong = client.post(
        f"/people/{employee.id}/delete", data={"csrf_token": csrf, "confirm": "nope"}, headers=HTML
    )
    assert wrong.status_code == 422
    assert f"Type {employee.email} exactly" in wrong.text
    assert db.get(User, (o.org.id, employee.id)).status == "active"  # type: ignore[union-attr]
    done = client.post(
        f"/people/{employee.id}/delete",
        data={"csrf_token": csrf, "confirm": employee.email, "kind:stream.post.author": "system_user"},
        headers=HTML,
    )
    assert done.status_code == 200
    assert "is deleted" in done.text and "Restore" in done.text
    db.expire_all()
    assert db.get(User, (o.org.id, employee.id)).status == "deleted"  # type: ignore[union-attr]
    org = db.get(Organization, o.org.id)
    assert org is not None


# --- Every core flow works without JavaScript (plain form posts) ------------------------------


def post(client: TestClient, path: str, csrf: str, data: dict[str, object] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={"csrf_token": csrf, **(data or {})}, headers=HTML, follow_redirects=True, **kwargs
    )


def test_tasks_leads_messages_and_files_work_with_plain_forms(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Colin", last_name="Baker")
    csrf = sign_in(client, db, settings, o.admin)

    made = post(
        client,
        "/tasks",
        csrf,
        {
            "title": "Write the handbook",
            "responsible_id": str(colleague.id),
            "participant_ids": [str(o.admin.id)],
        },
    )
    assert (
        made.status_code == 200 and "The task is created." in made.text and "Write the handbook" in made.text
    )
    task_id = re.search(r'action="/tasks/([0-9a-f-]{36})/status"', made.text)
    assert task_id
    done = post(client, f"/tasks/{task_id.group(1)}/status", csrf, {"status": "done"})
    assert "is now done" in done.text
    missing = post(client, "/tasks", csrf, {"title": "No owner"})
    assert missing.status_code == 422 and "Pick who is responsible." in missing.text

    lead = post(
        client,
        "/crm/leads",
        csrf,
        {"title": "Northwind", "responsible_id": str(colleague.id), "company": "NW"},
    )
    assert "The lead is saved." in lead.text and "Northwind" in lead.text
    lead_id = re.search(r'action="/crm/leads/([0-9a-f-]{36})/status"', lead.text)
    assert lead_id
    assert "is now won" in post(client, f"/crm/leads/{lead_id.group(1)}/status", csrf, {"status": "won"}).text

    sent = post(client, f"/messages/with/{colleague.id}", csrf, {"body": "Lunch at noon?"})
    assert sent.status_code == 200 and "Lunch at noon?" in sent.text
    group = post(client, "/messages/chats", csrf, {"title": "Launch", "member_ids": [str(colleague.id)]})
    assert "The group chat is ready." in group.text
    chat_path = re.search(r'action="(/messages/chats/[0-9a-f-]{36})"', group.text)
    assert chat_path
    assert "Ship it" in post(client, chat_path.group(1), csrf, {"body": "Ship it"}).text

    uploaded = post(client, "/drive", csrf, files={"file": ("plan.txt", b"the plan", "text/plain")})
    assert "“plan.txt” is uploaded." in uploaded.text
    link = re.search(r'href="(/api/v1/files/[0-9a-f-]{36}/content)"', uploaded.text)
    assert link
    assert client.get(link.group(1)).content == b"the plan"


def test_my_profile_and_photo_change_with_plain_forms(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import io

    from PIL import Image

    o = make_org(db)
    employee = make_user(db, o.org)
    csrf = sign_in(client, db, settings, employee)
    saved = post(
        client,
        "/profile",
        csrf,
        {"first_name": "Erin", "last_name": "Hale", "display_name": "Erin Hale", "position": "Recruiter"},
    )
    assert "Your profile is saved." in saved.text and 'value="Recruiter"' in saved.text
    picture = io.BytesIO()
    Image.new("RGB", (80, 80), (10, 120, 200)).save(picture, format="PNG")
    photo = post(
        client,
        f"/people/{employee.id}/photo",
        csrf,
        {"back": "profile"},
        files={"file": ("me.png", picture.getvalue(), "image/png")},
    )
    assert "The new photo is in place." in photo.text
    assert f"/api/v1/users/{employee.id}/photo?size=256&amp;v=1" in photo.text
    junk = post(
        client,
        f"/people/{employee.id}/photo",
        csrf,
        {"back": "profile"},
        files={"file": ("me.png", b"not a picture", "image/png")},
    )
    assert "The photo was not changed" in junk.text
    removed = post(client, f"/people/{employee.id}/photo/remove", csrf, {"back": "profile"})
    assert "The photo is removed" in removed.text
    wrong = post(client, "/profile/password", csrf, {"current_password": "nope", "new_password": "x" * 12})
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text


def test_a_composed_display_name_follows_a_name_changed_in_the_profile_form(
    client: TestClient, db: Session, settings: Settings
) -> None:
    # The form sends the display name back as it was; the name change must still carry into it,
    # as PATCH /users/{id} with only first_name does. A chosen display name stays.
    o = make_org(db)
    employee = make_user(db, o.org, first_name="Jöhn", last_name="Smith")
    chosen = make_user(db, o.org, first_name="Robert", last_name="Stone")
    chosen.display_name = "Bob"
    db.commit()
    csrf = sign_in(client, db, settings, employee)
    saved = post(
        client,
        "/profile",
        csrf,
        {"first_name": "John", "last_name": "Smith", "display_name": "Jöhn Smith", "position": ""},
    )
    assert "Your profile is saved." in saved.text
    db.refresh(employee)
    assert (employee.first_name, employee.display_name) == ("John", "John Smith")

    csrf = sign_in(client, db, settings, o.admin)
    edited = post(
        client,
        f"/people/{employee.id}/edit",
        csrf,
        {
            "first_name": "John",
            "last_name": "Smyth",
            "display_name": "John Smith",
            "position": "",
            "email": employee.email,
            "role": "employee",
        },
    )
    assert edited.status_code == 200
    db.refresh(employee)
    assert employee.display_name == "John Smyth"
    kept = post(
        client,
        f"/people/{chosen.id}/edit",
        csrf,
        {
            "first_name": "Rob",
            "last_name": "Stone",
            "display_name": "Bob",
            "position": "",
            "email": chosen.email,
            "role": "employee",
        },
    )
    assert kept.status_code == 200
    db.refresh(chosen)
    assert (chosen.first_name, chosen.display_name) == ("Rob", "Bob")


def test_the_admin_console_flows_work_with_plain_forms(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    duplicate = make_user(db, o.org, first_name="Dana", last_name="Dup")
    keeper = make_user(db, o.org, first_name="Dana", last_name="Keep")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    csrf = sign_in(client, db, settings, o.admin)

    many = post(
        client, "/people/invite/bulk", csrf, {"emails": "a@example.test, b@example.test\nnot-an-email"}
    )
    assert "2 invitations sent" in many.text and "1 not invited" in many.text
    csv = post(
        client,
        "/people/invite/bulk",
        csrf,
        files={"file": ("people.csv", b"email,first_name,last_name\nc@example.test,Cee,Sea\n", "text/csv")},
    )
    assert "1 invitation sent" in csv.text
    invited = client.get("/people/invited", headers=HTML).text
    assert "c@example.test" in invited
    invitation_id = re.search(r'action="/people/invitations/([0-9a-f-]{36})/revoke"', invited)
    assert invitation_id
    assert (
        "A new invitation is on its way"
        in post(client, f"/people/invitations/{invitation_id.group(1)}/resend", csrf).text
    )
    assert (
        "its seat is free" in post(client, f"/people/invitations/{invitation_id.group(1)}/revoke", csrf).text
    )

    assert "is dismissed" in post(client, f"/people/{leaver.id}/dismiss", csrf, {"reason": "Moved on"}).text
    assert "Welcome back" in post(client, f"/people/{leaver.id}/rehire", csrf).text

    merged = post(
        client, f"/people/{duplicate.id}/merge", csrf, {"into_id": str(keeper.id), "confirm": duplicate.email}
    )
    assert merged.status_code == 200 and "is merged into Dana Keep" in merged.text
    erased = post(client, f"/people/{leaver.id}/erase", csrf, {"confirm": leaver.email})
    assert erased.status_code == 200 and "is erased" in erased.text

    plan = post(client, "/admin/settings/plan", csrf, {"plan": "plus"})
    assert "Plus plan" in plan.text and "of 24" in plan.text
    saved = post(
        client, "/admin/settings", csrf, {"restore_window_days": "14", "show_former_employee_names": "on"}
    )
    assert "Settings saved." in saved.text and 'value="14"' in saved.text
    bad = post(client, "/admin/settings", csrf, {"restore_window_days": "0"})
    assert bad.status_code == 422
    token = post(client, "/admin/scim-tokens", csrf, {"name": "Okta"})
    assert "copy it now" in token.text and "Okta" in token.text
    # The page gives what an identity provider needs, and they work together.
    base = re.search(r'<code id="scim-url">([^<]+)</code>', token.text)
    secret = re.search(r'<p class="secret" id="new-token">([^<]+)</p>', token.text)
    assert base and secret and base.group(1) == "http://testserver/scim/v2"
    users = client.get(
        base.group(1) + "/Users?count=1", headers={"authorization": f"Bearer {secret.group(1)}"}
    )
    assert users.status_code == 200 and users.json()["totalResults"] >= 1
    # Behind a proxy, the address people reach Roster at is ROSTER_BASE_URL, whatever the request's.
    settings.base_url = "https://intranet.example.com/"
    page = client.get("/admin/settings", headers=HTML).text
    assert '<code id="scim-url">https://intranet.example.com/scim/v2</code>' in page
    token_id = re.search(r'action="/admin/scim-tokens/([0-9a-f-]{36})/revoke"', token.text)
    assert token_id
    assert (
        "The SCIM token is revoked"
        in post(client, f"/admin/scim-tokens/{token_id.group(1)}/revoke", csrf).text
    )

    audit = client.get("/admin/audit", headers=HTML).text
    assert "user.dismissed" in _audit_rows(audit) and "user.merged" in _audit_rows(audit)
    assert 'href="/api/v1/audit/export.csv"' in audit
    assert client.get("/api/v1/audit/export.csv").status_code == 200


def test_a_reset_link_sets_a_new_password(client: TestClient, db: Session) -> None:
    from roster.mail.models import OutboxMessage

    o = make_org(db)
    form = client.get("/forgot-password", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    sent = client.post(
        "/forgot-password",
        data={"organization": o.org.slug, "email": o.admin.email, "csrf_token": token.group(1)},
        headers=HTML,
    )
    assert "Check your mail" in sent.text
    body = db.scalars(select(OutboxMessage.body_text).where(OutboxMessage.to_address == o.admin.email)).one()
    link = re.search(r"https?://[^/\s]+(/reset-password/\S+)", body)
    assert link
    page = client.get(link.group(1), headers=HTML)
    assert "Choose a new password" in page.text
    done = client.post(
        link.group(1),
        data={
            "password": "a-brand-new-pass",
            "password_again": "a-brand-new-pass",
            "csrf_token": token.group(1),
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/login?org={o.org.slug}"
    again = client.get(link.group(1), headers=HTML)
    assert again.status_code == 404 and "does not work any more" in again.text


def test_a_reset_request_with_an_empty_field_says_what_is_missing_and_keeps_what_was_typed(
    client: TestClient, db: Session
) -> None:
    from roster.mail.models import OutboxMessage

    o = make_org(db)
    form = client.get("/forgot-password", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    for data, missing in (
        ({"organization": o.org.slug, "email": " "}, "email"),
        ({"organization": "", "email": "ann@x.test"}, "organization"),
    ):
        answer = client.post("/forgot-password", data={**data, "csrf_token": token.group(1)}, headers=HTML)
        assert answer.status_code == 422
        assert "Check your mail" not in answer.text and "If an account exists for" not in answer.text
        assert f'<div class="field-error" id="e-{missing}">Fill this in.</div>' in answer.text
        kept = [v.strip() for v in data.values() if v.strip()]
        assert f'value="{kept[0]}"' in answer.text
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_work_is_handed_over_without_deleting_anyone(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    successor = make_user(db, o.org, first_name="Sam", last_name="Successor")
    task = tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    csrf = sign_in(client, db, settings, o.admin)
    page = client.get(f"/people/{leaver.id}/transfer", headers=HTML)
    assert page.status_code == 200 and "Tasks they are responsible for" in page.text
    refused = post(client, f"/people/{leaver.id}/transfer", csrf, {"kinds": ["tasks.task.responsible"]})
    assert refused.status_code == 422 and "Pick the colleague who takes over." in refused.text
    nobody = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(uuid.uuid4())},
    )
    assert nobody.status_code == 422
    assert re.search(r'class="field-error"[^>]*>\s*No such user in this organization', nobody.text), (
        nobody.text
    )
    same = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(leaver.id)},
    )
    assert same.status_code == 422
    assert re.search(
        r'class="field-error"[^>]*>\s*Lee Leaver is the person whose work is handed over', same.text
    )
    done = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(successor.id)},
    )
    assert "1 item of Lee Leaver now belongs to Sam Successor." in done.text
    db.expire_all()
    assert tasks.get_task(db, o.admin, task.id).responsible_id == successor.id
    assert db.get(User, (o.org.id, leaver.id)).status == "active"  # type: ignore[union-attr]
    again = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(successor.id)},
    )
    assert (
        "Nothing was handed over: Lee Leaver holds none of the chosen work that is still open." in again.text
    )


def test_a_handover_page_leaves_closed_tasks_unless_ticked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    successor = make_user(db, o.org, first_name="Sam", last_name="Successor")
    open_task = tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    done_task = tasks.create_task(db, actor=leaver, title="Sign the lease", responsible_id=leaver.id)
    done_task.status = "done"
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    page = client.get(f"/people/{leaver.id}/transfer", headers=HTML)
    assert "1 open of 2" in page.text and 'name="include_closed"' in page.text
    handed = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(successor.id)},
    )
    assert "1 item of Lee Leaver now belongs to Sam Successor." in handed.text
    assert "1 closed item (done tasks, won or lost leads) stayed with Lee Leaver" in handed.text
    db.expire_all()
    assert tasks.get_task(db, o.admin, open_task.id).responsible_id == successor.id
    assert tasks.get_task(db, o.admin, done_task.id).responsible_id == leaver.id
    page = client.get(f"/people/{leaver.id}/transfer", headers=HTML)
    assert 'name="include_closed"' in page.text  # only closed work is left: it can still go
    everything = post(
        client,
        f"/people/{leaver.id}/transfer",
        csrf,
        {"kinds": ["tasks.task.responsible"], "to_id": str(successor.id), "include_closed": "on"},
    )
    assert "1 item of Lee Leaver now belongs to Sam Successor." in everything.text
    db.expire_all()
    assert tasks.get_task(db, o.admin, done_task.id).responsible_id == successor.id


def test_the_stream_page_loads_comments_in_a_fixed_number_of_queries(
    client: TestClient, db: Session, settings: Settings, connection: Connection
) -> None:
    from roster.stream import service as stream

    o = make_org(db)
    sign_in(client, db, settings, o.admin)

    def add_posts(n: int) -> None:
        for _ in range(n):
            author, friend = make_user(db, o.org), make_user(db, o.org)
            post = stream.create_post(db, actor=author, body=f"Hi @[{friend.id}]")
            stream.add_comment(db, post, actor=friend, body=f"Thanks @[{author.id}]", mentions=[author.id])
        db.flush()

    def queries() -> int:
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", count)
        try:
            answer = client.get("/stream")
            assert answer.status_code == 200 and "Thanks" in answer.text
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return len(statements)

    add_posts(2)
    queries()  # the first page view also records the session's use
    few = queries()
    add_posts(8)
    assert queries() == few


def test_a_mistyped_address_or_an_oversized_field_gets_a_page_not_json(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    for path in ("/people/not-an-id", "/people/not-an-id/delete", "/messages/with/not-an-id"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "We could not find that page" in answer.text
    paged = client.get("/people?page=two", headers=HTML)
    assert paged.status_code == 422 and paged.headers["content-type"].startswith("text/html")
    assert "Something in the form needs a look" in paged.text
    too_long = client.post(
        "/admin/settings", data={"csrf_token": csrf, "restore_window_days": "9" * 11}, headers=HTML
    )
    assert too_long.status_code == 422 and too_long.headers["content-type"].startswith("text/html")
    assert "restore_window_days" not in too_long.text
    assert "at most 10 characters" in too_long.text
    # API clients keep getting problem+json.
    api = client.get("/api/v1/users/not-an-id")
    assert api.status_code == 422 and api.headers["content-type"] == "application/problem+json"


def test_names_of_people_who_left_are_not_links_employees_cannot_open(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user
    from roster.stream import service as stream
    from roster.tasks import service as tasks

    o = make_org(db)
    employee = make_user(db, o.org, first_name="Emma")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    tasks.create_task(
        db, actor=leaver, title="Renew the lease", responsible_id=leaver.id, observer_ids=[employee.id]
    )
    stream.create_post(db, actor=leaver, body="Hello all")
    stream.create_post(db, actor=employee, body=f"Thanks @[{leaver.id}]")
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    card = f'href="/people/{leaver.id}"'

    sign_in(client, db, settings, employee)
    assert client.get(f"/people/{leaver.id}", headers=HTML).status_code == 404
    for path in ("/tasks?role=all", "/stream"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200 and "Lee Leaver" in page.text, path
        assert card not in page.text, path

    # Administrators can open every card, so for them the names stay links.
    sign_in(client, db, settings, o.admin)
    assert card in client.get("/stream", headers=HTML).text


def test_a_conversation_with_someone_who_left_stays_readable_for_employees(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user
    from roster.lifecycle.users import dismiss_user
    from roster.messages import service as messages

    o = make_org(db)
    employee = make_user(db, o.org, first_name="Emma")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    mistake = make_user(db, o.org, first_name="Tess", last_name="Test")
    stranger = make_user(db, o.org, first_name="Sid", last_name="Stranger")
    messages.send_direct_message(db, actor=leaver, to_user_id=employee.id, body="Handing over the keys")
    messages.send_direct_message(db, actor=mistake, to_user_id=employee.id, body="Testing, testing")
    dismiss_user(db, leaver, actor=o.admin)
    dismiss_user(db, stranger, actor=o.admin)
    delete_user(db, mistake, actor=o.admin, confirm=mistake.email)
    db.flush()

    sign_in(client, db, settings, employee)
    inbox = client.get("/messages", headers=HTML).text
    # Conversations whose other party left open by their chat, one entry each.
    assert not re.findall(r'href="(/messages/with/[0-9a-f-]{36})"', inbox)
    links = re.findall(r'href="(/messages/chats/[0-9a-f-]{36})"', inbox)
    assert len(links) == 2
    for link in links:
        page = client.get(link, headers=HTML)
        assert page.status_code == 200, link
        assert "is no longer here, so the conversation is read-only" in page.text
        assert 'name="body"' not in page.text
    assert "Handing over the keys" in client.get(f"/messages/with/{leaver.id}", headers=HTML).text
    # Someone who left and never wrote to the employee still does not exist for them.
    assert client.get(f"/messages/with/{stranger.id}", headers=HTML).status_code == 404


def test_a_seat_refusal_gives_its_advice_once(client: TestClient, db: Session, settings: Settings) -> None:
    o = make_org(db)
    leaver = make_user(db, o.org, dismissed=True)
    for n in range(get_seat_ledger(db, o.org.id).available or 0):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)
    csrf = sign_in(client, db, settings, o.admin)
    one = post(client, "/people/invite", csrf, {"email": "one.more@example.test"})
    many = post(client, "/people/invite/bulk", csrf, {"emails": "two.more@example.test"})
    rehire = post(client, f"/people/{leaver.id}/rehire", csrf)
    for answer in (one, many, rehire):
        assert answer.status_code in (200, 409)
        assert answer.text.count("To free a seat") == 1, answer.text
        assert "move to a larger plan in Settings" in answer.text


def test_every_invited_dismissed_and_deleted_person_can_be_reached_from_the_tabs(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db, plan="enterprise")
    for n in range(52):
        invite_user(db, o.org.id, actor=o.admin, email=f"invitee{n:02}@example.test", settings=settings)
        make_user(db, o.org, first_name="Dee", last_name=f"Dismissed{n:02}", dismissed=True)
        gone = make_user(db, o.org, first_name="Del", last_name=f"Deleted{n:02}")
        delete_user(db, gone, actor=o.admin, confirm=gone.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    for tab, marker in (("invited", "invitee"), ("dismissed", "Dismissed"), ("deleted", "Deleted")):
        first = client.get(f"/people/{tab}", headers=HTML).text
        assert "Page 1 of 2" in first, tab
        assert 'href="?page=2"' in first, tab
        second = client.get(f"/people/{tab}?page=2", headers=HTML).text
        seen = set(re.findall(marker + r"(\d\d)", first)) | set(re.findall(marker + r"(\d\d)", second))
        assert seen == {f"{n:02}" for n in range(52)}, tab
    found = client.get("/people/dismissed?q=dismissed07", headers=HTML).text
    assert 'name="q" value="dismissed07"' in found
    assert "Dismissed07" in found and "Dismissed08" not in found
    assert "Deleted07" in client.get("/people/deleted?q=deleted07", headers=HTML).text


def test_the_deleted_list_says_who_can_still_be_restored_and_who_was_removed_for_good(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user, erase_user

    o = make_org(db)
    kept = make_user(db, o.org, first_name="Kim", last_name="Kept")
    delete_user(db, kept, actor=o.admin, confirm=kept.email)
    erased = make_user(db, o.org, first_name="Eve", last_name="Erased")
    erase_user(db, erased, actor=o.admin, confirm=erased.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/people/deleted", headers=HTML).text
    rows = {name: page[page.index(name) :].split("</tr>")[0] for name in ("Kim Kept", "Former employee 1")}
    assert "30 days left" in rows["Kim Kept"] and "Restore" in rows["Kim Kept"]
    assert (
        "Removed for good" in rows["Former employee 1"] and "Purge pending" not in rows["Former employee 1"]
    )
    assert "Restore" not in rows["Former employee 1"]


def test_admins_see_who_originally_wrote_each_post_however_many_were_moved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user
    from roster.stream import service as stream

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    for n in range(205):
        stream.create_post(db, actor=leaver, body=f"Note {n}")
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/stream", headers=HTML).text
    original = f'Originally written by <a href="/people/{leaver.id}" title="{leaver.email}">Lee Leaver</a>'
    assert page.count(original) == page.count('class="card post"') > 0


def test_the_original_author_note_tells_namesakes_apart(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """After a duplicate "Anna Jones" is merged into the real one, the admin's note on the moved
    post links to the duplicate's card, with its address, not just the shared name."""
    from roster.lifecycle.deletion import merge_users
    from roster.stream import service as stream

    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones", email="anna@x.test")
    duplicate = make_user(db, o.org, first_name="Anna", last_name="Jones", email="anna.jones@x.test")
    stream.create_post(db, actor=duplicate, body="Posted from the test account")
    merge_users(db, duplicate, into=anna, actor=o.admin, confirm=duplicate.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/stream", headers=HTML).text
    assert (
        f'Originally written by <a href="/people/{duplicate.id}" title="anna.jones@x.test">Anna Jones</a>'
        in page
    )
    assert client.get(f"/people/{duplicate.id}", headers=HTML).status_code == 200


def _audit_rows(page: str) -> str:
    """The audit log's table of events (the Action filter lists every event name)."""
    body = re.search(r"<tbody>.*?</tbody>", page, re.S)
    return body.group(0) if body else ""


def _options(page: str, name: str) -> str:
    select_html = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)
    assert select_html, name
    return select_html.group(0)


def test_the_audit_log_can_be_filtered_by_people_who_left(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.audit import record_event
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", dismissed=True)
    gone = make_user(db, o.org, first_name="Del", last_name="Gone")
    delete_user(db, gone, actor=o.admin, confirm=gone.email)
    system = accounts.get_system_user(db, o.org.id)
    record_event(db, org_id=o.org.id, action="user.updated", actor=o.admin, subject=system)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/admin/audit", headers=HTML).text
    for name in ("actor_id", "subject_id"):
        options = _options(page, name)
        assert f'value="{leaver.id}"' in options and "Lee Leaver (Dismissed)" in options, name
        assert f'value="{gone.id}"' in options and "Del Gone (Deleted)" in options, name
        assert f'value="{system.id}"' in options and "System User" in options, name
    chosen = client.get(f"/admin/audit?subject_id={gone.id}", headers=HTML).text
    assert re.search(rf'<option value="{gone.id}"\s+selected>', _options(chosen, "subject_id"))
    assert "user.deleted" in _audit_rows(chosen) and "user.updated" not in _audit_rows(chosen)


def test_the_audit_log_counts_one_event_as_one_event(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    gone, also_gone = make_user(db, o.org), make_user(db, o.org)
    for user in (gone, also_gone):
        delete_user(db, user, actor=o.admin, confirm=user.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    one = client.get(f"/admin/audit?subject_id={gone.id}", headers=HTML).text
    assert "Page 1 of 1 · 1 event</span>" in one
    two = client.get("/admin/audit?action=user.deleted", headers=HTML).text
    assert "Page 1 of 1 · 2 events</span>" in two


def test_the_audit_action_filter_offers_every_event_name_and_their_families(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.domain.audit import AUDIT_ACTIONS
    from roster.lifecycle.users import change_plan, dismiss_user

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    dismiss_user(db, leaver, actor=o.admin)
    change_plan(db, o.org.id, actor=o.admin, plan="plus")
    db.flush()
    sign_in(client, db, settings, o.admin)
    options = _options(client.get("/admin/audit", headers=HTML).text, "action")
    offered = re.findall(r'<option value="([^"]*)"', options)
    assert offered[0] == "" and set(AUDIT_ACTIONS) <= set(offered)
    assert {"user.", "invitation.", "department."} <= set(offered)
    assert ">Dismissed (user.dismissed)</option>" in options
    # A family lists its events and no others; the choice stays selected.
    family = client.get("/admin/audit?action=user.", headers=HTML).text
    assert re.search(r'<option value="user\."\s+selected>', _options(family, "action"))
    assert "user.dismissed" in _audit_rows(family) and "plan.changed" not in _audit_rows(family)
    one = client.get("/admin/audit?action=plan.changed", headers=HTML).text
    assert re.search(r'<option value="plan\.changed"\s+selected>', _options(one, "action"))
    assert "plan.changed" in _audit_rows(one) and "user.dismissed" not in _audit_rows(one)
    # A value from an old link that is not offered is kept as it is, and still filters as before.
    odd = client.get("/admin/audit?action=user.dism", headers=HTML).text
    assert re.search(r'<option value="user\.dism" selected>user\.dism</option>', _options(odd, "action"))
    assert "No events match" in odd
    single = client.get("/admin/audit?action=plan.", headers=HTML).text
    assert re.search(r'<option value="plan\." selected>plan\.</option>', _options(single, "action"))
    assert "plan.changed" in _audit_rows(single)


def _directory_names(page: str) -> list[str]:
    return re.findall(r'<a class="card person-card" href="/people/[^"]+">.*?<h2>([^<]+)</h2>', page, re.S)


def _link(page: str, rel: str) -> str | None:
    """The directory's Next or Previous link (a query on the same page), as a path."""
    found = re.search(rf'<a href="(\?[^"]+)" rel="{rel}">', page)
    return "/people" + found.group(1).replace("&amp;", "&") if found else None


def test_the_directory_pages_by_cursor_and_shows_what_paging_by_number_shows(
    client: TestClient, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Next and Previous carry the last or first person shown, so a deep page starts at its place
    in the name index; walked forwards and back, each page holds what the same page by number does."""
    from roster.web.pages import people

    monkeypatch.setattr(people, "PER_PAGE", 2)
    o = make_org(db, plan="enterprise")
    for first in ("Abe", "Bea", "Cleo", "Dov", "Eli", "Fay", "Gus"):
        viewer = make_user(db, o.org, first_name=first, last_name="Ames")
    db.flush()
    sign_in(client, db, settings, viewer)  # an employee, who sees cards
    by_number = [_directory_names(client.get(f"/people?page={n}", headers=HTML).text) for n in (1, 2, 3, 4)]
    listed = [name for names in by_number for name in names]
    assert listed == sorted(listed)  # eight people, the admin among them
    assert [len(names) for names in by_number] == [2, 2, 2, 2]

    seen, url = [], "/people"
    for number in (1, 2, 3, 4):
        page = client.get(url, headers=HTML).text
        assert f"Page {number} of 4 · 8 people" in page
        seen.append(_directory_names(page))
        url = _link(page, "next") or ""
        if number < 4:
            assert "after=" in url and f"page={number + 1}" in url
    assert seen == by_number and url == ""

    back = []
    for number in (3, 2, 1):
        url = _link(page, "prev") or ""
        assert ("before=" in url) == (number > 1) and f"page={number}" in url
        page = client.get(url, headers=HTML).text
        assert f"Page {number} of 4 · 8 people" in page
        back.append(_directory_names(page))
    assert back == [by_number[2], by_number[1], by_number[0]] and _link(page, "prev") is None

    # A search and a department filter ride along with the cursor.
    found = client.get("/people?q=ames", headers=HTML).text
    following = _link(found, "next") or ""
    assert "q=ames" in following and "after=" in following
    # A cursor that cannot be read is paged by number, not refused.
    odd = client.get("/people?page=2&after=not-a-cursor", headers=HTML)
    assert odd.status_code == 200 and _directory_names(odd.text) == by_number[1]
    # Back from a page whose earlier people have all left (but perhaps the admin) lands on page 1.
    from roster.lifecycle.users import dismiss_user

    third = client.get(
        _link(client.get(_link(found, "next") or "", headers=HTML).text, "next") or "", headers=HTML
    )
    assert "Page 3 of 4" in third.text
    back_link = _link(third.text, "prev") or ""
    assert "before=" in back_link
    earlier = set(by_number[0] + by_number[1])
    for user in db.scalars(select(User).where(User.org_id == o.org.id, User.id != o.admin.id)):
        if user.display_name in earlier:
            dismiss_user(db, user, actor=o.admin)
    db.flush()
    landed = client.get(back_link, headers=HTML).text
    assert "Page 1 of" in landed and _directory_names(landed)[-1] == by_number[2][-1]
    assert _link(landed, "prev") is None


def test_audit_filters_that_cannot_be_read_are_said_and_list_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """A mistyped day or person in the address is marked on its field; the page does not quietly
    drop it and list every event."""
    from roster.lifecycle.users import dismiss_user

    o = make_org(db)
    leaver = make_user(db, o.org)
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    sign_in(client, db, settings, o.admin)
    cases = {
        "since=2026-13-45": ("since", "Enter a day as YYYY-MM-DD."),
        "until=yesterday": ("until", "Enter a day as YYYY-MM-DD."),
        "since=2026-03-02&until=2026-03-01": ("until", "Until must be the same day as From or later."),
        "actor_id=not-a-person": ("actor_id", "Choose a person from the list."),
        f"subject_id={str(leaver.id)[:-1]}": ("subject_id", "Choose a person from the list."),
    }
    for query, (field, message) in cases.items():
        page = client.get(f"/admin/audit?{query}", headers=HTML)
        assert page.status_code == 422, query
        assert f'<div class="field-error" id="e-{field}">{message}</div>' in page.text, query
        assert 'aria-invalid="true"' in page.text and "These filters cannot be read" in page.text
        assert "user.dismissed" not in _audit_rows(page.text) and "Export CSV" not in page.text
    # The same filters, typed right, list the event.
    right = client.get(f"/admin/audit?since=2000-01-01&until=2999-12-31&subject_id={leaver.id}", headers=HTML)
    assert right.status_code == 200 and "user.dismissed" in _audit_rows(right.text)
    assert "field-error" not in right.text and "Export CSV" in right.text


def _detail(page: str, label: str) -> tuple[str, str]:
    """The title (the stored value) and the text of one detail of the audit log's newest match."""
    found = re.search(rf"<dt[^>]*>{re.escape(label)}</dt><dd(?: title=\"([^\"]*)\")?>(.*?)</dd>", page, re.S)
    assert found, label
    return found.group(1) or "", found.group(2)


def test_the_audit_details_read_as_labels_names_and_dates(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import html

    from roster.directory.departments import add_department_members, create_department
    from roster.lifecycle.deletion import DispositionPlan, delete_user
    from roster.lifecycle.users import dismiss_user, update_organization_settings
    from roster.references import Disposition
    from roster.stream.service import create_post

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    heir = make_user(db, o.org, first_name="Hana", last_name="Heir")
    create_post(db, actor=leaver, body="Handover notes")
    dismiss_user(db, leaver, actor=o.admin, reason="Moved abroad")
    delete_user(
        db,
        leaver,
        actor=o.admin,
        confirm=leaver.email,
        disposition=DispositionPlan(default=Disposition.SUCCESSOR, successor_id=heir.id),
    )
    update_organization_settings(db, o.org.id, actor=o.admin, restore_window_days=10)
    sales = create_department(db, o.org.id, actor=o.admin, name="Sales")
    add_department_members(db, sales, [heir.id], actor=o.admin)
    db.flush()
    sign_in(client, db, settings, o.admin)

    def page(action: str) -> str:
        return _audit_rows(client.get(f"/admin/audit?action={action}", headers=HTML).text)

    dismissed = page("user.dismissed")
    assert _detail(dismissed, "Reason")[1] == "Moved abroad"
    assert _detail(dismissed, "Status after")[1] == "Dismissed"
    assert "new_status=" not in dismissed
    deleted = page("user.deleted")
    title, text = _detail(deleted, "Successor")
    assert text == "Hana Heir" and str(heir.id) in title  # the name, and the id it stands for
    assert _detail(deleted, "Moved")[1].startswith("Posts written: 1")
    restorable = leaver.restorable_until
    assert restorable is not None
    title, text = _detail(deleted, "Restorable until")
    assert text == restorable.strftime("%d %b %Y, %H:%M") and restorable.isoformat() in html.unescape(title)
    changed = page("settings.changed")
    assert _detail(changed, "Restore window (days)")[1] == "30 → 10"
    members = page("department.members_added")
    assert _detail(members, "Department")[1] == "Sales" and _detail(members, "People")[1] == "Hana Heir"
    # The CSV export stays as it was stored: codes and ids, for machines.
    export = client.get("/api/v1/audit/export.csv?action=user.deleted").text
    assert f'""successor_id"": ""{heir.id}""' in export and "Hana Heir" not in export


def test_the_audit_log_finds_anyone_by_name_in_a_large_organization(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user
    from roster.web.pages.shared import PICKER_LIMIT

    o = make_org(db, plan="enterprise")
    for n in range(PICKER_LIMIT + 5):
        make_user(db, o.org, first_name="Dee", last_name=f"Dismissed{n:03}", dismissed=True)
    gone = make_user(db, o.org, first_name="Zed", last_name="Gone")
    delete_user(db, gone, actor=o.admin, confirm=gone.email)
    db.flush()
    system = accounts.get_system_user(db, o.org.id)
    sign_in(client, db, settings, o.admin)
    page = client.get("/admin/audit", headers=HTML).text
    # The lists are capped, and a name field narrows them (a plain GET form: no script needed).
    assert _options(page, "subject_id").count("<option") <= PICKER_LIMIT + 1
    assert str(gone.id) not in _options(page, "subject_id")
    assert str(system.id) not in _options(page, "subject_id")  # the log never names it here
    assert re.search(r'<input[^>]*name="people"', page)
    found = client.get("/admin/audit?people=zed", headers=HTML).text
    for name in ("actor_id", "subject_id"):
        options = _options(found, name)
        assert "Zed Gone (Deleted)" in options and "Dismissed0" not in options, name
    assert 'name="people" value="zed"' in found
    # A chosen person stays chosen on the next pages, even beyond the cap.
    chosen = client.get(f"/admin/audit?subject_id={gone.id}", headers=HTML).text
    assert re.search(rf'<option value="{gone.id}"\s+selected>', _options(chosen, "subject_id"))
    assert "user.deleted" in chosen


def test_reloading_the_page_after_a_delete_changes_nothing_and_restore_still_works(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    employee = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    colleague = make_user(db, o.org)
    csrf = sign_in(client, db, settings, o.admin)
    done = client.post(
        f"/people/{employee.id}/delete",
        data={"csrf_token": csrf, "confirm": employee.email},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303
    result = done.headers["location"]
    assert re.fullmatch(r"/people/operations/[0-9a-f-]{36}", result)
    for _reload in range(2):
        page = client.get(result, headers=HTML)
        assert page.status_code == 200
        assert "Lee Leaver is deleted" in page.text and "Nothing was deleted" not in page.text
        assert f'action="/people/{employee.id}/restore"' in page.text
    # Only admins of the same organization read it.
    sign_in(client, db, settings, colleague)
    assert client.get(result, headers=HTML).status_code == 403
    sign_in(client, db, settings, make_org(db).admin)
    assert client.get(result, headers=HTML).status_code == 404
    csrf = sign_in(client, db, settings, o.admin)
    restored = client.post(f"/people/{employee.id}/restore", data={"csrf_token": csrf}, headers=HTML)
    assert "is restored" in restored.text
    db.expire_all()
    assert db.get(User, (o.org.id, employee.id)).status == "dismissed"  # type: ignore[union-attr]
    after = client.get(result, headers=HTML).text
    assert "Lee Leaver was restored" in after and "/restore" not in after


def test_the_result_of_a_delete_says_where_each_kind_of_work_went(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """As the review step before it does: to the successor by name, to the System User, or deleted."""
    from roster.stream import service as stream
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    post_ = stream.create_post(db, actor=leaver, body="Handbook draft is up")
    stream.add_comment(db, post_, actor=leaver, body="Comments welcome")
    tasks.create_task(db, actor=leaver, title="Review the handbook", responsible_id=anna.id)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    done = client.post(
        f"/people/{leaver.id}/delete",
        data={
            "csrf_token": csrf,
            "confirm": leaver.email,
            "successor_id": str(anna.id),
            "kind:stream.post.author": "successor",
            "kind:stream.comment.author": "delete",
            "kind:tasks.task.creator": "system_user",
        },
        headers=HTML,
    )
    assert done.status_code == 200 and "Lee Leaver is deleted" in done.text
    tiles = {
        re.sub(r"\s+", " ", label).strip(): int(count)
        for count, label in re.findall(
            r'<div class="stat"><strong>(\d+)</strong><span>(.*?)</span></div>', done.text
        )
    }
    assert tiles == {
        "Posts written moved to Anna Jones": 1,
        "Tasks they created moved to the System User": 1,
        "Comments written deleted": 1,
    }, tiles


def test_reloading_the_page_after_a_merge_or_an_erasure_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    duplicate = make_user(db, o.org, first_name="Dana", last_name="Dup")
    keeper = make_user(db, o.org, first_name="Dana", last_name="Keep")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    csrf = sign_in(client, db, settings, o.admin)
    merged = client.post(
        f"/people/{duplicate.id}/merge",
        data={"csrf_token": csrf, "into_id": str(keeper.id), "confirm": duplicate.email},
        headers=HTML,
        follow_redirects=False,
    )
    assert merged.status_code == 303
    for _reload in range(2):
        page = client.get(merged.headers["location"], headers=HTML).text
        assert "Dana Dup is merged into Dana Keep" in page
        assert f'action="/people/{duplicate.id}/restore"' in page
    erased = client.post(
        f"/people/{leaver.id}/erase",
        data={"csrf_token": csrf, "confirm": leaver.email},
        headers=HTML,
        follow_redirects=False,
    )
    assert erased.status_code == 303
    first = client.get(erased.headers["location"], headers=HTML).text
    assert "Lee Leaver is erased" in first  # said once, by the redirect's message
    again = client.get(erased.headers["location"], headers=HTML).text
    assert "is erased" in again and "Former employee" in again and "Lee Leaver" not in again
    assert "/restore" not in again


def test_the_system_user_has_no_delete_merge_erase_or_dismiss_form(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Each would only end in a refusal; handing its records on (transfer) and the map stay."""
    o = make_org(db)
    system = accounts.get_system_user(db, o.org.id)
    sign_in(client, db, settings, o.admin)
    for action in ("delete", "merge", "erase", "dismiss"):
        page = client.get(f"/people/{system.id}/{action}", headers=HTML)
        assert page.status_code == 409, (action, page.status_code)
        assert (
            "The System User cannot be" in page.text
            and '<form method="post" action="/people/' not in page.text
        )
    for action in ("transfer", "authorship"):
        assert client.get(f"/people/{system.id}/{action}", headers=HTML).status_code == 200, action


def test_going_back_from_the_delete_confirmation_keeps_every_choice(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]]
) -> None:
    from roster.lifecycle import deletion

    admin, employee, people = demo
    successor = next(u for u in people if u.id not in (admin.id, employee.id) and u.status == "active")
    kinds = [i.kind for i in deletion.preview_deletion(db, employee).references if i.count]
    offered = {
        i.kind: ("successor" if "successor" in i.dispositions else i.dispositions[-1])
        for i in deletion.preview_deletion(db, employee).references
        if i.count
    }
    assert kinds and "successor" in offered.values()
    sign_in(client, db, settings, admin)
    review = client.get(
        f"/people/{employee.id}/delete/review",
        params={"successor_id": str(successor.id), **{f"kind:{k}": v for k, v in offered.items()}},
        headers=HTML,
    )
    assert review.status_code == 200 and "Type the email to confirm" in review.text
    back = re.search(r'<a class="btn btn-secondary" href="([^"]+)">Back</a>', review.text)
    assert back
    step_one = client.get(back.group(1).replace("&amp;", "&"), headers=HTML)
    assert step_one.status_code == 200
    for kind, value in offered.items():
        assert re.search(rf'name="kind:{re.escape(kind)}" value="{value}" checked', step_one.text), kind
    assert f'<option value="{successor.id}" selected>' in step_one.text


def test_tasks_leads_and_files_beyond_the_first_page_can_be_reached(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import io

    from roster.crm import service as crm
    from roster.drive import service as drive
    from roster.drive.storage import get_storage
    from roster.tasks import service as tasks
    from roster.web.pages.work import PER_PAGE

    o = make_org(db)
    storage = get_storage(settings, o.org.id)
    for n in range(PER_PAGE + 1):
        tasks.create_task(db, actor=o.admin, title=f"Task number {n:03}", responsible_id=o.admin.id)
        crm.create_lead(db, actor=o.admin, title=f"Lead number {n:03}", responsible_id=o.admin.id)
        drive.upload_file(
            db,
            actor=o.admin,
            name=f"file-{n:03}.txt",
            content_type="text/plain",
            stream=io.BytesIO(f"file {n}".encode()),
            storage=storage,
            max_bytes=1024,
        )
    db.flush()
    sign_in(client, db, settings, o.admin)
    for path, first in (
        ("/tasks", "Task number 000"),
        ("/crm", "Lead number 000"),
        ("/drive", "file-000.txt"),
    ):
        page_one = client.get(path, headers=HTML)
        assert page_one.status_code == 200 and first not in page_one.text, path
        following = re.search(r'<a href="(\?[^"]*page=2)">Next', page_one.text)
        assert following, path
        page_two = client.get(path + following.group(1).replace("&amp;", "&"), headers=HTML)
        assert page_two.status_code == 200 and first in page_two.text, path
        assert f"Page 2 of 2 · {PER_PAGE + 1}" in page_two.text, path


def test_a_refused_bulk_invitation_keeps_the_chosen_role(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    too_many = " ".join(f"p{n}@acme.test" for n in range(501))
    for emails in ("", too_many):
        answer = client.post(
            "/people/invite/bulk", data={"csrf_token": csrf, "emails": emails, "role": "admin"}, headers=HTML
        )
        assert answer.status_code == 422
        many = answer.text.split('id="f-role-many"', 1)[1].split("</select>", 1)[0]
        assert '<option value="admin" selected' in many, emails[:20]


def test_a_bulk_invitation_past_the_seat_limit_gives_its_advice_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    free = get_seat_ledger(db, o.org.id).available or 0
    csrf = sign_in(client, db, settings, o.admin)
    emails = " ".join(f"p{n}@acme.test" for n in range(free + 3))
    answer = post(client, "/people/invite/bulk", csrf, {"emails": emails})
    assert answer.status_code == 200
    assert f"{free} invitations sent" in answer.text and "3 not invited" in answer.text
    assert answer.text.count("To free a seat") == 1, answer.text
    for n in range(free, free + 3):
        assert f"p{n}@acme.test" in answer.text


def test_a_person_card_offers_to_remove_a_photo_only_when_there_is_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.directory import photos

    o = make_org(db)
    employee = make_user(db, o.org)
    sign_in(client, db, settings, o.admin)
    card = client.get(f"/people/{employee.id}", headers=HTML)
    assert card.status_code == 200 and "Upload a new photo" in card.text
    assert "Remove the photo" not in card.text
    # The picker offers the formats the server takes, as on My profile.
    assert 'accept="image/jpeg,image/png,image/gif,image/webp"' in card.text
    photos.set_user_photo(db, employee, png_bytes(), actor=o.admin)
    db.flush()
    card = client.get(f"/people/{employee.id}", headers=HTML)
    assert "Remove the photo" in card.text


def png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (80, 80), (67, 56, 202)).save(out, format="PNG")
    return out.getvalue()


def test_admins_see_who_originally_wrote_a_comment_and_employees_do_not(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user
    from roster.stream import service as stream

    o = make_org(db)
    employee = make_user(db, o.org)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    post = stream.create_post(db, actor=o.admin, body="Quarterly numbers are in")
    stream.add_comment(db, post, actor=leaver, body="Great quarter")
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    db.flush()
    sign_in(client, db, settings, o.admin)
    page = client.get("/stream", headers=HTML).text
    comment = page.split('class="comment"', 1)[1].split("comment-body", 1)[0]
    assert "System User" in comment and f'Originally written by <a href="/people/{leaver.id}"' in comment
    sign_in(client, db, settings, employee)
    page = client.get("/stream", headers=HTML).text
    assert "Great quarter" in page and "Lee Leaver" not in page


def test_a_task_can_be_edited_by_those_who_may_change_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Cora", last_name="Colleague")
    outsider = make_user(db, o.org)
    task = tasks.create_task(
        db,
        actor=o.admin,
        title="Draft the handbook",
        responsible_id=o.admin.id,
        observer_ids=[outsider.id],
        description="Chapters one to three",
    )
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    listing = client.get("/tasks", headers=HTML).text
    assert f'href="/tasks/{task.id}/edit"' in listing
    form = client.get(f"/tasks/{task.id}/edit", headers=HTML)
    assert form.status_code == 200
    assert 'value="Draft the handbook"' in form.text and "Chapters one to three" in form.text
    # A refusal keeps what was typed.
    refused = post(
        client,
        f"/tasks/{task.id}/edit",
        csrf,
        {"title": " ", "responsible_id": str(colleague.id), "description": "Chapters one to five"},
    )
    assert refused.status_code == 422 and "Chapters one to five" in refused.text
    done = post(
        client,
        f"/tasks/{task.id}/edit",
        csrf,
        {
            "title": "Draft the staff handbook",
            "responsible_id": str(colleague.id),
            "observer_ids": [str(outsider.id)],
            "deadline": "2030-01-15",
            "description": "Chapters one to five",
        },
    )
    assert done.status_code == 200 and "The task is saved." in done.text
    db.expire_all()
    saved = db.get(type(task), (o.org.id, task.id))
    assert saved is not None and saved.title == "Draft the staff handbook"
    assert saved.responsible_id == colleague.id and saved.description == "Chapters one to five"
    assert saved.deadline is not None and saved.deadline.date().isoformat() == "2030-01-15"
    # Someone who left stays on the task when it is edited: the form offers them as they are.
    from roster.lifecycle.users import dismiss_user

    leaver = make_user(db, o.org)
    tasks.update_task(db, saved, actor=o.admin, participant_ids=[leaver.id])
    dismiss_user(db, leaver, actor=o.admin)
    db.flush()
    form = client.get(f"/tasks/{task.id}/edit", headers=HTML).text
    assert f'<option value="{leaver.id}" selected>' in form
    # An observer may see the task but not change it.
    sign_in(client, db, settings, outsider)
    assert f'href="/tasks/{task.id}/edit"' not in client.get("/tasks?role=observer", headers=HTML).text
    assert client.get(f"/tasks/{task.id}/edit", headers=HTML).status_code == 403


def test_inviting_an_address_with_a_pending_invitation_offers_to_resend_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    invitation, _ = invite_user(db, o.org.id, actor=o.admin, email="pending@acme.test", settings=settings)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    answer = post(client, "/people/invite", csrf, {"email": "pending@acme.test", "first_name": "Pat"})
    assert answer.status_code == 409 and "resend it instead" in answer.text
    resend = re.search(
        rf'<form method="post" action="(/people/invitations/{invitation.id}/resend)"', answer.text
    )
    assert resend and "Resend the invitation" in answer.text
    sent = post(client, resend.group(1), csrf)
    assert sent.status_code == 200 and "A new invitation is on its way to pending@acme.test" in sent.text


def test_a_refused_group_chat_keeps_its_name_and_members(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    colleague = make_user(db, o.org)
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(client, "/messages/chats", csrf, {"title": "Offsite planning"})
    assert refused.status_code == 422
    assert "Add at least one other person" in refused.text and 'value="Offsite planning"' in refused.text
    refused = post(client, "/messages/chats", csrf, {"title": "x" * 300, "member_ids": [str(colleague.id)]})
    assert refused.status_code == 422
    assert f'<option value="{colleague.id}" selected>' in refused.text


def _sent_bodies(db: Session, org_id: uuid.UUID) -> list[str]:
    from roster.messages.models import Message

    return list(db.scalars(select(Message.body).where(Message.org_id == org_id)))


def _compose_value(page: str) -> str | None:
    found = re.search(r'<input id="msg-body"[^>]*\bvalue="([^"]*)"', page)
    return found.group(1) if found else None


def test_a_refused_direct_message_shows_the_conversation_again_with_the_text_typed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service as messages

    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Colin", last_name="Baker")
    messages.send_direct_message(db, actor=colleague, to_user_id=o.admin.id, body="Are you in today?")
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    long_text = "Minutes of the meeting & <notes> " + "x" * 10_000
    refused = post(client, f"/messages/with/{colleague.id}", csrf, {"body": long_text})
    assert refused.status_code == 422
    assert "The message was not sent" in refused.text and "10000" in refused.text
    assert "Are you in today?" in refused.text and "Colin Baker" in refused.text
    assert _compose_value(refused.text) == long_text.replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;"
    )
    empty = post(client, f"/messages/with/{colleague.id}", csrf, {"body": "   "})
    assert empty.status_code == 422 and "The message was not sent" in empty.text
    assert _compose_value(empty.text) == "   "
    assert _sent_bodies(db, o.org.id) == ["Are you in today?"]
    # Sent again, shorter, it goes.
    sent = post(client, f"/messages/with/{colleague.id}", csrf, {"body": "Minutes attached"})
    assert sent.status_code == 200 and "The message was not sent" not in sent.text
    assert _compose_value(sent.text) == ""
    assert sorted(_sent_bodies(db, o.org.id)) == ["Are you in today?", "Minutes attached"]


def test_a_message_to_someone_who_left_keeps_the_text_on_the_read_only_conversation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.users import dismiss_user
    from roster.messages import service as messages

    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Colin", last_name="Baker")
    employee = make_user(db, o.org)
    for viewer in (o.admin, employee):
        messages.send_direct_message(db, actor=viewer, to_user_id=colleague.id, body="Hello Colin")
    dismiss_user(db, colleague, actor=o.admin)
    db.flush()
    # The page was open before Colin left: the admin (who may still see him) and an employee
    # (for whom he no longer exists outside their conversation) both see it, read-only, with the text.
    for viewer in (o.admin, employee):
        csrf = sign_in(client, db, settings, viewer)
        refused = post(client, f"/messages/with/{colleague.id}", csrf, {"body": "Where is the key?"})
        assert refused.status_code == 422
        assert "The message was not sent" in refused.text and "Hello Colin" in refused.text
        assert "That person is no longer active: choose someone else." in refused.text
        assert "conversation is read-only" in refused.text
        assert re.search(
            r'<textarea id="msg-unsent"[^>]*readonly>Where is the key\?</textarea>', refused.text
        )
    assert sorted(_sent_bodies(db, o.org.id)) == ["Hello Colin", "Hello Colin"]
    # Someone the employee never wrote to, and who left, still does not exist for them.
    sign_in(client, db, settings, employee)
    stranger = make_user(db, o.org)
    dismiss_user(db, stranger, actor=o.admin)
    db.flush()
    csrf = sign_in(client, db, settings, employee)
    unknown = post(client, f"/messages/with/{stranger.id}", csrf, {"body": "Hi there"})
    assert unknown.status_code == 404 and "No such user." in unknown.text
    assert stranger.display_name not in unknown.text and "Hi there" in unknown.text


def test_a_refused_group_message_keeps_the_text_and_a_lost_chat_shows_it_in_the_inbox(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service as messages

    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Colin", last_name="Baker")
    chat = messages.create_group_chat(db, actor=o.admin, title="Launch", member_ids=[colleague.id])
    messages.send_message(db, chat, actor=o.admin, body="Kick-off at ten")
    db.flush()
    csrf = sign_in(client, db, settings, colleague)
    refused = post(client, f"/messages/chats/{chat.id}", csrf, {"body": "y" * 10_001})
    assert refused.status_code == 422
    assert "The message was not sent" in refused.text and "Kick-off at ten" in refused.text
    assert _compose_value(refused.text) == "y" * 10_001
    # Removed from the chat meanwhile: the chat is not shown, the text is, with the reason.
    messages.remove_chat_member(db, chat, actor=o.admin, member_id=colleague.id)
    db.flush()
    gone = post(client, f"/messages/chats/{chat.id}", csrf, {"body": "See you there"})
    assert gone.status_code == 404
    assert "The message was not sent" in gone.text and "No such chat." in gone.text
    assert "Kick-off at ten" not in gone.text and _compose_value(gone.text) is None
    assert re.search(r'<textarea id="msg-unsent"[^>]*readonly>See you there</textarea>', gone.text)
    elsewhere = post(client, f"/messages/chats/{uuid.uuid4()}", csrf, {"body": "Anyone?"})
    assert elsewhere.status_code == 404 and "Anyone?" in elsewhere.text
    assert _sent_bodies(db, o.org.id) == ["Kick-off at ten"]


def test_a_message_far_over_the_limit_comes_back_cut_with_the_reason_not_lost(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service as messages

    o = make_org(db)
    colleague = make_user(db, o.org, first_name="Colin", last_name="Baker")
    chat = messages.create_group_chat(db, actor=o.admin, title="Launch", member_ids=[colleague.id])
    messages.send_message(db, chat, actor=o.admin, body="Kick-off at ten")
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    # Far longer than the form allows (a pasted log, a script): refused by the page, not before it.
    pasted = "Start of the log " + "z" * 60_000 + " end of the log"
    for path, shown in (
        (f"/messages/with/{colleague.id}", "Colin Baker"),
        (f"/messages/chats/{chat.id}", "Kick-off at ten"),
    ):
        refused = post(client, path, csrf, {"body": pasted})
        assert refused.status_code == 422, path
        assert "The message was not sent" in refused.text and shown in refused.text
        assert f"The body is {len(pasted)} characters long; the limit is 10000." in refused.text
        assert "Only its first 50,000 characters are kept here." in refused.text
        assert _compose_value(refused.text) == pasted[:50_000]
    # Removed from the chat meanwhile: the inbox shows the text, cut the same way.
    messages.remove_chat_member(db, chat, actor=o.admin, member_id=colleague.id)
    db.flush()
    csrf = sign_in(client, db, settings, colleague)
    gone = post(client, f"/messages/chats/{chat.id}", csrf, {"body": pasted})
    assert gone.status_code == 404 and "No such chat." in gone.text
    assert "Only its first 50,000 characters are kept here." in gone.text
    unsent = re.search(r'<textarea id="msg-unsent"[^>]*readonly>([^<]*)</textarea>', gone.text)
    assert unsent and unsent.group(1) == pasted[:50_000]
    assert _sent_bodies(db, o.org.id) == ["Kick-off at ten"]


def test_a_deleted_person_can_be_erased_from_their_card(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    leaver = make_user(db, o.org)
    email = leaver.email
    delete_user(db, leaver, actor=o.admin, confirm=email)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    card = client.get(f"/people/{leaver.id}", headers=HTML).text
    assert f'href="/people/{leaver.id}/erase"' in card and ">Restore</button>" in card
    done = post(client, f"/people/{leaver.id}/erase", csrf, {"confirm": email})
    assert done.status_code == 200 and "is erased" in done.text
    db.expire_all()
    assert db.get(User, (o.org.id, leaver.id)).email is None  # type: ignore[union-attr]
    card = client.get(f"/people/{leaver.id}", headers=HTML).text
    assert f'href="/people/{leaver.id}/erase"' not in card and ">Restore</button>" not in card


def test_the_erase_page_says_what_is_destroyed_as_the_erasure_does_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Work goes to the System User; what is destroyed for good is what an earlier deletion of the
    person set to "Delete" and kept only so it could be restored."""
    from roster.lifecycle.deletion import DispositionPlan, delete_user
    from roster.references import Disposition
    from roster.stream import service as stream

    o = make_org(db)
    stayer, leaver = make_user(db, o.org), make_user(db, o.org)
    post_id = stream.create_post(db, actor=leaver, body="Old news").id
    delete_user(
        db,
        leaver,
        actor=o.admin,
        confirm=leaver.email,
        disposition=DispositionPlan(kinds={"stream.post.author": Disposition.DELETE}),
    )
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    active = client.get(f"/people/{stayer.id}/erase", headers=HTML).text
    assert "Their work goes to the System User." in active
    assert "chose to delete" not in active and "destroyed" not in active
    deleted = client.get(f"/people/{leaver.id}/erase", headers=HTML).text
    assert "Their work stays where their deletion put it." in deleted
    assert (
        "What that deletion set to “Delete”, kept until now so it could be restored, is destroyed for good."
        in deleted
    )
    assert db.get(Post, (o.org.id, post_id)) is not None
    post(client, f"/people/{leaver.id}/erase", csrf, {"confirm": leaver.email})
    db.expire_all()
    assert db.get(Post, (o.org.id, post_id)) is None


def test_a_refusal_that_is_not_about_being_an_admin_does_not_send_people_to_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks.service import create_task

    o = make_org(db)
    creator, responsible = make_user(db, o.org), make_user(db, o.org)
    task = create_task(db, actor=creator, title="Theirs to delete", responsible_id=responsible.id)
    db.flush()
    sign_in(client, db, settings, responsible)
    answer = client.get(f"/tasks/{task.id}/delete", headers=HTML)
    assert answer.status_code == 403
    assert "creator or an admin may delete it." in answer.text
    assert "for administrators" not in answer.text


def _crawl(client: TestClient, start: str, limit: int = 2000) -> tuple[dict[str, int], set[str]]:
    """Follow every same-site link (``href="/..."``) from ``start``, breadth first; each address
    reached and its status, and the links within a page (``href="#..."``) whose target the page
    lacks, as ``page#target``. Pages are parsed for more links; anything else (images, downloads,
    style sheets) is only fetched."""
    seen: dict[str, int] = {}
    dangling: set[str] = set()
    queue = [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        answer = client.get(path, headers=HTML)
        seen[path] = answer.status_code
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        for link in re.findall(r'href="(/[^"#]*)', answer.text):
            link = link.replace("&amp;", "&")
            if link not in seen:
                queue.append(link)
        targets = set(re.findall(r'\bid="([^"]+)"', answer.text))
        dangling |= {f"{path}#{t}" for t in re.findall(r'href="#([^"]+)"', answer.text) if t not in targets}
    assert not queue, f"more than {limit} addresses: the crawl stopped early"
    return seen, dangling


@pytest.mark.parametrize("who", ["admin", "employee"])
def test_every_link_on_every_page_leads_somewhere(
    client: TestClient, db: Session, settings: Settings, demo: tuple[User, User, list[User]], who: str
) -> None:
    """No page links to an address that fails, is missing, or refuses the person it was shown to,
    nor to a place on itself that is not there (the tasks page's "New task", the skip link)."""
    admin, employee, _people = demo
    sign_in(client, db, settings, admin if who == "admin" else employee)
    seen, dangling = _crawl(client, "/stream")
    broken = {path: status for path, status in seen.items() if status != 200}
    assert not broken, broken
    assert not dangling, sorted(dangling)
    # The crawl reached the whole site, not just the stream.
    for page in ("/people", "/tasks", "/drive", "/messages", "/crm", "/trash", "/profile"):
        assert page in seen, page
    if who == "admin":
        assert "/admin/audit" in seen and f"/people/{employee.id}/delete" in seen
        # Every department's page and delete confirmation, from the Departments list.
        department_pages = [p for p in seen if p.startswith("/admin/departments/")]
        assert len([p for p in department_pages if p.endswith("/delete")]) == 3, department_pages
        assert len(department_pages) == 6, department_pages
    else:
        assert not any(path.startswith("/admin") for path in seen)


def test_an_admin_is_not_offered_forms_that_could_only_refuse_them_about_themselves(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Dismissing, deleting, merging or erasing oneself is refused; the forms say so at once,
    instead of after the steps and the typed confirmation."""
    o = make_org(db)
    sign_in(client, db, settings, o.admin)
    for action in ("dismiss", "delete", "merge", "erase"):
        answer = client.get(f"/people/{o.admin.id}/{action}", headers=HTML)
        assert answer.status_code == 409, action
        assert "your own account" in answer.text and "ask another administrator" in answer.text, action
        assert f'action="/people/{o.admin.id}/{action}' not in answer.text, action
    # Handing one's own work to a colleague stays possible.
    assert client.get(f"/people/{o.admin.id}/transfer", headers=HTML).status_code == 200


def test_the_audit_page_checks_the_chain_and_names_what_was_tampered_with(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from sqlalchemy import update

    from roster.lifecycle.audit import record_event
    from roster.lifecycle.models import AuditEvent

    o = make_org(db)
    for action in ("user.updated", "user.dismissed", "settings.changed"):
        record_event(db, org_id=o.org.id, action=action, actor=o.admin, subject=o.admin)
    db.flush()
    sign_in(client, db, settings, o.admin)
    assert 'href="/admin/audit/verify"' in client.get("/admin/audit", headers=HTML).text
    events = db.scalar(select(func.count()).where(AuditEvent.org_id == o.org.id))
    intact = client.get("/admin/audit/verify", headers=HTML)
    assert intact.status_code == 200
    assert "The chain is intact" in intact.text and f"{events} events checked" in intact.text

    db.execute(
        update(AuditEvent)
        .where(AuditEvent.org_id == o.org.id, AuditEvent.seq == 2)
        .values(action="user.rehired")
    )
    db.flush()
    broken = client.get("/admin/audit/verify", headers=HTML).text
    assert "The chain is not intact" in broken and "1 problem found" in broken
    assert re.search(r"#2</td><td><code>user\.rehired</code></td><td><strong>An event was changed", broken)
    # As the API says.
    assert not client.get("/api/v1/audit/verify").json()["ok"]


def _moved_page(client: TestClient, person: User) -> str:
    page = client.get(f"/people/{person.id}/authorship", headers=HTML)
    assert page.status_code == 200
    return page.text


def test_the_moved_content_page_names_each_item_and_links_to_its_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Each row says which post, comment, task, file, lead or chat it is, links where the web app
    has a page, and says when the item is in the trash or gone; the raw id stays for support."""
    from roster.crm.models import Lead
    from roster.crm.service import delete_lead
    from roster.drive.models import DriveFile
    from roster.lifecycle import deletion
    from roster.references import Disposition
    from roster.tasks.models import Task
    from roster.tasks.service import delete_task
    from roster.trash.service import purge_item
    from tests.deletion_support import make_busy

    o = make_org(db, plan="enterprise")
    busy = make_user(db, o.org, first_name="Bea", last_name="Busy")
    colleague = make_user(db, o.org, first_name="Cal", last_name="Colleague")
    employee = make_user(db, o.org, first_name="Oli", last_name="Other")
    make_busy(client, db, busy, [colleague, employee])
    deletion.delete_user(db, busy, actor=o.admin, confirm=busy.email)

    def one(model: type[Task] | type[Lead] | type[DriveFile], **where: str) -> Any:
        found = db.scalar(select(model).filter_by(org_id=o.org.id, **where))
        assert found is not None
        return found

    task = one(Task, title="Task 0")
    watched = one(Task, title="Watched task 0")
    lead = one(Lead, title="Lead 0")
    file = one(DriveFile, name="notes-0.txt")
    purge_item(db, delete_task(db, watched, actor=o.admin), actor=o.admin)  # gone for good
    theirs = one(Task, title="Their task 0")  # busy took part in it; it hides with its owner
    deletion.delete_user(
        db,
        colleague,
        actor=o.admin,
        confirm=colleague.email,
        disposition=deletion.DispositionPlan(kinds={"tasks.task.responsible": Disposition.DELETE}),
    )
    delete_lead(db, lead, actor=o.admin)  # in the trash: named, not linked
    db.flush()

    sign_in(client, db, settings, o.admin)
    text = _moved_page(client, busy)
    assert f'<a href="/tasks/{task.id}">Task 0</a>' in text
    assert f'<a href="/api/v1/files/{file.id}/content">notes-0.txt</a>' in text
    # Posts and comments have no page of their own: their text says which one.
    assert "Post 0" in text and "Hello 0" in text and "A comment" in text and "Agreed" in text
    # A mention's row names its post: the post's text, never the mention token.
    assert "@[" not in text
    assert "Lead 0" in text and "In the trash" in text and f"/crm/leads/{lead.id}/edit" not in text
    assert "Watched task 0" not in text and "Deleted for good" in text
    assert f"/tasks/{watched.id}" not in text
    assert "Their task 0" in text and "Hidden with a deleted account" in text
    assert f"/tasks/{theirs.id}" not in text
    # Messages are named by their chat (their text is private to its members).
    assert "In a direct conversation" in text and "Direct conversation" in text
    # The map's own id of each row is still there for support.
    entries, _total = deletion.list_authorship(db, o.org.id, user_id=busy.id, include_restored=True)
    for e in entries:
        assert str(e.object_id) in text
    # The links lead to pages the administrator can open.
    assert client.get(f"/tasks/{task.id}", headers=HTML).status_code == 200
    assert client.get(f"/api/v1/files/{file.id}/content").status_code == 200

    sign_in(client, db, settings, employee)
    assert client.get(f"/people/{busy.id}/authorship", headers=HTML).status_code == 403


def test_the_moved_content_page_names_departments_invitations_and_the_people_managed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.directory.departments import add_department_members, create_department
    from roster.domain.users import Role
    from roster.lifecycle import deletion
    from roster.lifecycle.invitations import invite_user

    o = make_org(db, plan="enterprise")
    leaver = make_user(db, o.org, first_name="Bea", last_name="Boss", role=Role.ADMIN)
    report = make_user(db, o.org, first_name="Cal", last_name="Report")
    sales = create_department(db, o.org.id, actor=o.admin, name="Sales", head_id=leaver.id)
    support = create_department(db, o.org.id, actor=o.admin, name="Support")
    add_department_members(db, support, [leaver.id], actor=o.admin)
    invite_user(db, o.org.id, actor=leaver, email="newcomer@example.test", settings=settings)
    report.manager_id = leaver.id
    db.flush()
    deletion.delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    db.flush()

    sign_in(client, db, settings, o.admin)
    text = _moved_page(client, leaver)
    assert f'<a href="/admin/departments/{sales.id}">Sales</a>' in text
    assert f'<a href="/admin/departments/{support.id}">Support</a>' in text
    assert '<a href="/people/invited">Sent to newcomer@example.test</a>' in text
    assert f'<a href="/people/{report.id}">Manager of Cal Report</a>' in text
    assert 'class="kind-code"' not in text  # no row is left as a bare id


def test_the_moved_content_page_can_name_every_kind_of_content() -> None:
    """A module that registers a new kind of content reference must say how the page names it."""
    from roster.references import content_references
    from roster.web.pages.moved_items import _KINDS

    assert {r.kind for r in content_references()} <= set(_KINDS)


def test_the_moved_content_page_loads_titles_per_kind_not_per_row(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle import deletion
    from tests.deletion_support import make_busy

    o = make_org(db, plan="enterprise")
    light = make_user(db, o.org, first_name="Lia", last_name="Light")
    heavy = make_user(db, o.org, first_name="Hal", last_name="Heavy")
    colleague = make_user(db, o.org, first_name="Cal", last_name="Colleague")
    other = make_user(db, o.org, first_name="Oli", last_name="Other")
    make_busy(client, db, light, [colleague, other])
    make_busy(client, db, heavy, [colleague, other], rounds=3)
    # Both manage someone (make_busy made the colleague report to whoever it made busy last), so
    # the two pages name the same kinds.
    make_user(db, o.org, first_name="Rae", last_name="Report").manager_id = light.id
    db.flush()
    for person in (light, heavy):
        deletion.delete_user(db, person, actor=o.admin, confirm=person.email)
    db.flush()
    sign_in(client, db, settings, o.admin)

    def statements(person: User) -> int:
        seen: list[str] = []
        connection = db.connection()

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection, "before_cursor_execute", count)
        try:
            _moved_page(client, person)
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return len(seen)

    light_rows = deletion.list_authorship(db, o.org.id, user_id=light.id)[1]
    heavy_rows = deletion.list_authorship(db, o.org.id, user_id=heavy.id)[1]
    assert heavy_rows > light_rows
    statements(light)  # the first page of the session warms what every page loads once
    a, b = statements(heavy), statements(light)
    assert a == b, (a, b)


def test_people_make_list_and_revoke_their_personal_access_tokens_on_their_profile(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The web form does what POST/GET/DELETE /me/tokens do: the secret shown once, then only the
    name; a revoked token is refused at once; nobody can revoke someone else's."""
    o = make_org(db)
    employee = make_user(db, o.org, first_name="Ema", last_name="Ployee")
    other = make_user(db, o.org)
    theirs = accounts.issue_token(db, other, kind="pat", name="their script").token
    csrf = sign_in(client, db, settings, employee)
    page = client.get("/profile", headers=HTML).text
    assert "Personal access tokens" in page and "You have no tokens." in page

    refused = post(client, "/profile/tokens", csrf, {"name": " ", "expires_in_days": "90"})
    assert refused.status_code == 422 and "Name the token after what will use it" in refused.text
    refused = post(client, "/profile/tokens", csrf, {"name": "backup", "expires_in_days": "7"})
    assert refused.status_code == 422 and "Choose one of the lifetimes offered." in refused.text
    assert 'value="backup"' in refused.text  # what was typed is kept

    made = post(client, "/profile/tokens", csrf, {"name": "backup script", "expires_in_days": "30"})
    assert made.status_code == 200 and made.url.path == "/profile"
    secret = re.search(r'<p class="secret" id="new-token">([^<]+)</p>', made.text)
    assert secret is not None
    token = secret.group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/profile", headers=HTML).text
    assert token not in again and "backup script" in again  # shown once; a reload shows only its name
    listed = accounts.list_personal_tokens(db, employee)
    assert [t.name for t in listed] == ["backup script"] and listed[0].expires_at is not None

    foreign = post(client, f"/profile/tokens/{theirs.id}/revoke", csrf)
    assert foreign.status_code == 404
    assert [t.name for t in accounts.list_personal_tokens(db, other)] == ["their script"]
    revoked = post(client, f"/profile/tokens/{listed[0].id}/revoke", csrf)
    assert "The token “backup script” is revoked" in revoked.text
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_personal_token_revoked_twice_says_it_was_revoked_already_and_by_whom(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Sent again (a second tab, Back and the button), the revoke says what the audit log recorded,
    not a 404 page; someone else's token, revoked or not, stays 404."""
    from zoneinfo import ZoneInfo

    o = make_org(db)
    employee = make_user(db, o.org, first_name="Ema", last_name="Ployee")
    employee.timezone = "Asia/Kolkata"  # the time is said in the reader's zone
    other = make_user(db, o.org)
    theirs = accounts.issue_token(db, other, kind="pat", name="their script").token
    mine = accounts.issue_token(db, employee, kind="pat", name="backup script").token
    db.flush()
    csrf = sign_in(client, db, settings, employee)
    revoked = post(client, f"/profile/tokens/{mine.id}/revoke", csrf)
    assert revoked.status_code == 200 and "The token “backup script” is revoked" in revoked.text
    event = accounts.find_personal_token_revocation(db, employee, mine.id)
    assert event is not None and event.details == {"token_id": str(mine.id), "name": "backup script"}
    when = event.created_at.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%d %b %Y, %H:%M")
    twice = post(client, f"/profile/tokens/{mine.id}/revoke", csrf)
    assert twice.status_code == 200 and twice.url.path == "/profile"
    said = f"The token “backup script” was revoked already. It was revoked on {when} by Ema Ployee."
    assert said in twice.text
    accounts.revoke_personal_token(db, theirs, actor=other)
    assert post(client, f"/profile/tokens/{theirs.id}/revoke", csrf).status_code == 404
    assert post(client, f"/profile/tokens/{uuid.uuid4()}/revoke", csrf).status_code == 404


def test_admins_reach_the_system_users_records_from_the_pages(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.accounts.service import get_system_user
    from roster.directory import departments
    from roster.lifecycle.deletion import delete_user
    from roster.stream import service as stream
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    colleague = make_user(db, o.org)
    tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    stream.create_post(db, actor=leaver, body="The lease is up in May")
    facilities = departments.create_department(db, o.org.id, actor=o.admin, name="Facilities")
    departments.add_department_members(db, facilities, [leaver.id], actor=o.admin)
    delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    system = get_system_user(db, o.org.id)
    db.flush()

    sign_in(client, db, settings, o.admin)
    # The System User's name on content opens its card, where its records are handed over.
    assert f'href="/people/{system.id}"' in client.get("/tasks?role=everyone", headers=HTML).text
    card = client.get(f"/people/{system.id}", headers=HTML).text
    assert f'href="/people/{system.id}/transfer"' in card
    assert "Facilities" not in card  # the membership it holds for a restore is no team of its own
    assert f'href="/people/{system.id}/transfer"' in client.get("/people/deleted", headers=HTML).text
    moved = client.get(f"/people/{leaver.id}/authorship", headers=HTML).text
    link = f"/people/{system.id}/transfer?originally_by={leaver.id}"
    assert f'href="{link}"' in moved and "The System User holds 3 items originally Lee Leaver" in moved
    form = client.get(link, headers=HTML).text
    assert f'<option value="{leaver.id}" selected>' in form
    assert client.get(f"/people/{system.id}/transfer?originally_by=nonsense", headers=HTML).status_code == 200

    assert f'href="/people/{system.id}"' in client.get("/stream", headers=HTML).text

    # Employees see the name, with no link to it.
    sign_in(client, db, settings, colleague)
    page = client.get("/stream", headers=HTML).text
    assert "The lease is up in May" in page and "System User" in page
    assert f'href="/people/{system.id}"' not in page
