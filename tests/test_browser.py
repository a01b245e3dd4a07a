"""The web application in a real browser: Chromium driven by Playwright against a real server.

Screenshots of every page visited land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.accounts.security import hash_password
from roster.crm import service as crm
from roster.db.engine import make_engine, make_sessionmaker, transaction
from roster.lifecycle.users import dismiss_user, provision_user
from roster.mail.models import OutboxMessage
from roster.tasks import service as tasks
from tests.dbutil import DatabaseFactory
from tests.factories import PASSWORD
from tests.liveserver import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
TEAM = [
    ("Colin", "Baker", "Account Executive"),
    ("Priya", "Natarajan", "Head of Sales"),
    ("Tomás", "Ibáñez", "Backend Engineer"),
    ("Grace", "Okafor", "Product Designer"),
    ("Hiro", "Tanaka", "Support Lead"),
]
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


@dataclass
class Site:
    url: str
    database_url: str
    slug: str
    admin_email: str
    colleague_email: str

    def session(self) -> Session:
        return make_sessionmaker(make_engine(self.database_url))()


@pytest.fixture
def site(databases: DatabaseFactory, tmp_path: Path) -> Iterator[Site]:
    url = databases.new_database()
    with transaction(make_sessionmaker(make_engine(url))) as db:
        org, admin = accounts.create_organization(
            db,
            slug="acme",
            name="Acme Ltd",
            plan="free",
            admin_email="ada@acme.test",
            admin_password=PASSWORD,
            admin_first_name="Ada",
            admin_last_name="Lovelace",
        )
        # Colleagues join through the lifecycle service, so the seat counter is right.
        for first, last, position in TEAM:
            provision_user(
                db,
                org.id,
                actor=admin,
                email=f"{first.lower()}@acme.test",
                first_name=first,
                last_name=last,
                position=position,
                via="test",
            )
        colleague = accounts.get_user_by_email(db, org.id, "colin@acme.test")
        assert colleague is not None and colleague.email is not None and admin.email is not None
        colleague.password_hash = hash_password(PASSWORD)
        emails = (admin.email, colleague.email)
    server = LiveServer(url, tmp_path / "data", ROSTER_BACKGROUND_WORKERS="false").start()
    try:
        yield Site(server.url, url, "acme", *emails)
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def new_page(browser: object) -> object:
    context = browser.new_context(viewport={"width": 1366, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def sign_in(page: object, site: Site, email: str, password: str = PASSWORD) -> None:
    page.goto(site.url + "/login")  # type: ignore[attr-defined]
    page.fill("#f-organization", site.slug)  # type: ignore[attr-defined]
    page.fill("#f-email", email)  # type: ignore[attr-defined]
    page.fill("#f-password", password)  # type: ignore[attr-defined]
    page.click("form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/stream")  # type: ignore[attr-defined]


def invitation_link(site: Site, email: str) -> str:
    with site.session() as db:
        bodies = db.scalars(
            select(OutboxMessage.body_text)
            .where(OutboxMessage.to_address == email)
            .order_by(OutboxMessage.created_at.desc())
        ).all()
    for body in bodies:
        match = re.search(r"https?://\S+/invite/\S+", body)
        if match:
            return match.group(0)
    raise AssertionError(f"no invitation mail to {email}")


def user_id(site: Site, email: str) -> str:
    with site.session() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        return str(user.id)


def mention_suggestions(page: object, prefix: str) -> list[str]:
    """Type ``@prefix`` into the post box and read the offered names."""
    page.goto(page.url.split("#")[0])  # type: ignore[attr-defined]
    box = page.locator("#post-body")  # type: ignore[attr-defined]
    box.click()
    box.press_sequentially("@" + prefix, delay=40)
    # The list of people, or in its place the line that says nobody matches.
    shown = page.locator("#post-body ~ .ac-list:visible")  # type: ignore[attr-defined]
    shown.wait_for()
    page.wait_for_timeout(400)  # type: ignore[attr-defined]
    return [t.strip() for t in shown.locator("li").all_inner_texts()] or [shown.inner_text().strip()]


DESCRIPTION = """e => (e.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean)
    .map(id => document.getElementById(id).textContent.trim()).join(" | ")"""


def chips(page: object, name: str) -> list[str]:
    """The people a picker has chosen, as its chips name them."""
    return page.locator(f"[data-name={name}] .chip").evaluate_all(  # type: ignore[attr-defined,no-any-return]
        "chips => chips.map(chip => chip.firstChild.textContent)"
    )


def seats_used(page: object) -> int:
    """The seat meter's "N of 12 seats used"."""
    text = page.locator(".seat-meter").inner_text()  # type: ignore[attr-defined]
    match = re.search(r"(\d+) of 12 seats used", text)
    assert match, text
    return int(match.group(1))


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 120), (67, 56, 202)).save(out, format="PNG")
    return out.getvalue()


def test_an_employee_is_invited_posts_is_dismissed_deleted_and_restored(site: Site, browser: object) -> None:
    admin = new_page(browser)
    sign_in(admin, site, site.admin_email)

    # The admin invites Erin, with the seat meter in view.
    admin.goto(site.url + "/people/invite")  # type: ignore[attr-defined]
    used = seats_used(admin)
    admin.fill("#f-email", "erin@acme.test")  # type: ignore[attr-defined]
    admin.fill("#f-first_name", "Erin")  # type: ignore[attr-defined]
    admin.fill("#f-last_name", "Hale")  # type: ignore[attr-defined]
    admin.click("text=Send invitation")  # type: ignore[attr-defined]
    admin.wait_for_selector("text=1 invitation sent")  # type: ignore[attr-defined]
    assert seats_used(admin) == used + 1
    shot(admin, "admin-invite")
    admin.goto(site.url + "/people/invited")  # type: ignore[attr-defined]
    assert "erin@acme.test" in admin.locator("table").inner_text()  # type: ignore[attr-defined]
    shot(admin, "admin-people-invited")

    # Erin accepts through the emailed link and is signed in.
    erin = new_page(browser)
    erin.goto(invitation_link(site, "erin@acme.test"))  # type: ignore[attr-defined]
    shot(erin, "accept-invitation")
    assert erin.locator("#f-first_name").input_value() == "Erin"  # type: ignore[attr-defined]
    erin.fill("#f-password", "erins-own-password-1")  # type: ignore[attr-defined]
    erin.fill("#f-password_again", "erins-own-password-1")  # type: ignore[attr-defined]
    erin.click("button:has-text('Join Acme Ltd')")  # type: ignore[attr-defined]
    erin.wait_for_url("**/stream")  # type: ignore[attr-defined]
    assert "Welcome to Acme Ltd" in erin.inner_text("body")  # type: ignore[attr-defined]

    # She posts, with a live preview on the way.
    erin.fill("#post-body", "Hello everyone, glad to be here!")  # type: ignore[attr-defined]
    assert "glad to be here" in erin.locator("#post-preview").inner_text()  # type: ignore[attr-defined]
    erin.click("text=Publish")  # type: ignore[attr-defined]
    erin.wait_for_selector("text=Your post is published.")  # type: ignore[attr-defined]
    post = erin.locator("article.post", has_text="glad to be here")  # type: ignore[attr-defined]
    assert "Erin Hale" in post.inner_text()
    shot(erin, "stream-employee")

    # She also owns a task and a lead (made through the services, as the API would).
    erin_id = user_id(site, "erin@acme.test")
    with transaction(make_sessionmaker(make_engine(site.database_url))) as db:
        owner = db.get(
            User,
            (db.scalars(select(User.org_id).where(User.email == "erin@acme.test")).one(), uuid.UUID(erin_id)),
        )
        assert owner is not None
        tasks.create_task(db, actor=owner, title="Update the price list", responsible_id=owner.id)
        crm.create_lead(
            db, actor=owner, title="Northwind renewal", responsible_id=owner.id, company="Northwind"
        )

    # She sets her photo and sees it at once.
    erin.goto(site.url + "/profile")  # type: ignore[attr-defined]
    erin.set_input_files(
        "#photo-file", files=[{"name": "me.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )  # type: ignore[attr-defined]
    erin.click("text=Upload photo")  # type: ignore[attr-defined]
    erin.wait_for_selector("text=The new photo is in place.")  # type: ignore[attr-defined]
    assert "&v=1" in (erin.locator("#my-photo img").get_attribute("src") or "")  # type: ignore[attr-defined]
    shot(erin, "profile")

    # Colin finds her in the mention autocomplete.
    colin = new_page(browser)
    sign_in(colin, site, site.colleague_email)
    assert any("Erin Hale" in s for s in mention_suggestions(colin, "Eri"))
    shot(colin, "stream-mention-autocomplete")

    # ...and mentions her in a comment on her post, picking her from the list with the keyboard.
    colin.goto(site.url + "/stream")  # type: ignore[attr-defined]
    comment = colin.locator("article.post", has_text="glad to be here").locator("input[name=body]")  # type: ignore[attr-defined]
    comment.press_sequentially("Welcome @Eri", delay=40)
    colin.locator(".ac-list li", has_text="Erin Hale").wait_for()  # type: ignore[attr-defined]
    comment.press("Enter")
    comment.press_sequentially("!", delay=40)
    comment.press("Enter")
    colin.wait_for_selector("text=Comment added.")  # type: ignore[attr-defined]
    mention = colin.locator("article.post", has_text="glad to be here").locator(".comment a.mention")  # type: ignore[attr-defined]
    assert mention.inner_text() == "@Erin Hale"

    # The admin dismisses her, with a confirmation step.
    admin.goto(f"{site.url}/people/{erin_id}/dismiss")  # type: ignore[attr-defined]
    shot(admin, "admin-dismiss-confirm")
    admin.click("button:has-text('Dismiss Erin Hale')")  # type: ignore[attr-defined]
    admin.wait_for_url("**/people/dismissed")  # type: ignore[attr-defined]
    assert "is dismissed" in admin.inner_text("body")  # type: ignore[attr-defined]
    shot(admin, "admin-people-dismissed")

    # She is signed out at once, and gone from Colin's autocomplete.
    erin.goto(site.url + "/stream")  # type: ignore[attr-defined]
    assert "/login" in erin.url  # type: ignore[attr-defined]
    assert not any("Erin" in s for s in mention_suggestions(colin, "Eri"))

    # The admin deletes her through the wizard.
    admin.goto(f"{site.url}/people/{erin_id}/delete")  # type: ignore[attr-defined]
    assert admin.locator("text=Posts").count() >= 1  # type: ignore[attr-defined]
    # Her task goes to Colin as successor; everything else to the System User.
    admin.check("input[name='kind:tasks.task.responsible'][value='successor']")  # type: ignore[attr-defined]
    admin.locator("#f-successor_id-search").press_sequentially("Col", delay=40)  # type: ignore[attr-defined]
    admin.locator(".ac-option", has_text="Colin Baker").click()  # type: ignore[attr-defined]
    shot(admin, "delete-wizard-dispositions")
    admin.click("text=Continue")  # type: ignore[attr-defined]
    admin.wait_for_selector("text=Type the email to confirm")  # type: ignore[attr-defined]
    delete_button = admin.locator("#delete-button")  # type: ignore[attr-defined]
    assert delete_button.is_disabled()
    admin.fill("#f-confirm", "erin@acme.test")  # type: ignore[attr-defined]
    assert delete_button.is_enabled()
    assert "To Colin Baker" in admin.inner_text("body")  # type: ignore[attr-defined]
    shot(admin, "delete-wizard-confirm")
    delete_button.click()
    admin.wait_for_selector("text=Erin Hale is deleted")  # type: ignore[attr-defined]
    shot(admin, "delete-wizard-result")
    colin.goto(site.url + "/tasks?role=responsible")  # type: ignore[attr-defined]
    row = colin.locator("tr", has_text="Update the price list")  # type: ignore[attr-defined]
    assert "Colin Baker" in row.inner_text()

    # Her post now shows the System User, and admins see who wrote it.
    admin.goto(site.url + "/stream")  # type: ignore[attr-defined]
    post = admin.locator("article.post", has_text="glad to be here")  # type: ignore[attr-defined]
    assert "System User" in post.inner_text()
    assert "Originally written by Erin Hale" in post.inner_text()
    colin.goto(site.url + "/stream")  # type: ignore[attr-defined]
    colin_post = colin.locator("article.post", has_text="glad to be here")  # type: ignore[attr-defined]
    assert "System User" in colin_post.inner_text()
    assert "Originally" not in colin_post.inner_text()
    shot(admin, "stream-after-deletion")

    admin.goto(site.url + "/people/deleted")  # type: ignore[attr-defined]
    assert "30 days left" in admin.inner_text("body")  # type: ignore[attr-defined]
    shot(admin, "admin-people-deleted")

    # The admin restores her: the post is hers again.
    admin.click("button:has-text('Restore')")  # type: ignore[attr-defined]
    admin.wait_for_load_state()  # type: ignore[attr-defined]
    shot(admin, "person-restored")
    admin.wait_for_selector("text=is restored")  # type: ignore[attr-defined]
    shot(admin, "person-restored")
    admin.goto(site.url + "/stream")  # type: ignore[attr-defined]
    post = admin.locator("article.post", has_text="glad to be here")  # type: ignore[attr-defined]
    assert "Erin Hale" in post.inner_text()
    assert "System User" not in post.inner_text()


def test_every_page_renders_for_an_admin_and_employees_meet_no_admin_pages(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    page.goto(site.url + "/login")  # type: ignore[attr-defined]
    shot(page, "login")
    page.goto(site.url + "/forgot-password")  # type: ignore[attr-defined]
    shot(page, "forgot-password")

    sign_in(page, site, site.admin_email)
    colin_id = user_id(site, site.colleague_email)
    pages = {
        "stream": "/stream",
        "admin-people": "/people",
        "tasks": "/tasks",
        "tasks-everyone": "/tasks?role=everyone",
        "drive": "/drive",
        "messages": "/messages",
        "messages-direct": f"/messages/with/{colin_id}",
        "crm": "/crm",
        "person-card": f"/people/{colin_id}",
        "audit-log": "/admin/audit",
        "settings": "/admin/settings",
        "merge": f"/people/{colin_id}/merge",
        "erase": f"/people/{colin_id}/erase",
        "not-found": "/no-such-page",
    }
    for name, path in pages.items():
        page.goto(site.url + path)  # type: ignore[attr-defined]
        assert page.locator("h1").count() >= 1, path  # type: ignore[attr-defined]
        shot(page, name)

    # A task assigned with the people picker.
    page.goto(site.url + "/tasks")  # type: ignore[attr-defined]
    page.fill("#f-title", "Prepare the onboarding pack")  # type: ignore[attr-defined]
    picker = page.locator("#f-participant_ids-search")  # type: ignore[attr-defined]
    picker.press_sequentially("Col", delay=40)
    page.locator(".ac-option", has_text="Colin Baker").click()  # type: ignore[attr-defined]
    page.click("text=Create task")  # type: ignore[attr-defined]
    page.wait_for_selector("text=The task is created.")  # type: ignore[attr-defined]
    assert "with Colin Baker" in page.inner_text("body")  # type: ignore[attr-defined]
    shot(page, "tasks-created")

    employee = new_page(browser)
    sign_in(employee, site, site.colleague_email)
    body = employee.inner_text("body")  # type: ignore[attr-defined]
    assert "Audit log" not in body and "Invite people" not in body
    for path in (
        "/people/invited",
        "/people/dismissed",
        "/people/deleted",
        "/admin/audit",
        "/admin/settings",
    ):
        answer = employee.goto(site.url + path)  # type: ignore[attr-defined]
        assert answer.status == 403, path
    shot(employee, "forbidden")
    employee.goto(site.url + "/people")  # type: ignore[attr-defined]
    assert employee.locator("text=Dismissed").count() == 0  # type: ignore[attr-defined]
    shot(employee, "employee-directory")


def test_revoking_an_invitation_or_a_scim_token_asks_first(site: Site, browser: object) -> None:
    from roster.lifecycle.invitations import invite_user
    from roster.scim.tokens import create_scim_token

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        invite_user(db, admin.org_id, actor=admin, email="newcomer@acme.test")
        create_scim_token(db, admin.org_id, actor=admin, name="Entra ID")
        db.commit()
    context = browser.new_context(viewport={"width": 1366, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    asked: list[str] = []

    def answer_with(accept: bool) -> object:
        def answer(dialog: object) -> None:
            asked.append(dialog.message)  # type: ignore[attr-defined]
            dialog.accept() if accept else dialog.dismiss()  # type: ignore[attr-defined]

        return answer

    sign_in(page, site, site.admin_email)
    for path, row_text in (("/people/invited", "newcomer@acme.test"), ("/admin/settings", "Entra ID")):
        page.goto(site.url + path)
        row = page.locator("tr", has_text=row_text)
        page.once("dialog", answer_with(False))  # Cancel: nothing is sent
        row.get_by_role("button", name="Revoke").click()
        page.wait_for_timeout(300)
        assert row.count() == 1 and row_text in asked[-1]
        page.once("dialog", answer_with(True))
        row.get_by_role("button", name="Revoke").click()
        page.locator("tr", has_text=row_text).wait_for(state="detached")
    assert len(asked) == 4


def test_a_deleted_post_waits_in_the_trash_and_is_restored_with_its_comment(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    asked: list[str] = []
    page.on("dialog", lambda dialog: asked.append(dialog.message))  # type: ignore[attr-defined]
    sign_in(page, site, site.admin_email)
    page.fill("#post-body", "Offsite agenda is out")  # type: ignore[attr-defined]
    page.click("form[action='/stream/posts'] button[type=submit]")  # type: ignore[attr-defined]
    post = page.locator("article", has_text="Offsite agenda is out")  # type: ignore[attr-defined]
    post.locator("input[name=body]").fill("Thanks, looks good")
    post.get_by_role("button", name="Comment").click()
    page.locator("article", has_text="Thanks, looks good").wait_for()  # type: ignore[attr-defined]

    page.locator("article", has_text="Offsite agenda is out").get_by_role(
        "button", name="Delete"
    ).first.click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=The post is moved to the trash")  # type: ignore[attr-defined]
    assert "trash" in asked[-1]
    assert page.locator("article", has_text="Offsite agenda is out").count() == 0  # type: ignore[attr-defined]

    page.click("nav a[href='/trash']")  # type: ignore[attr-defined]
    row = page.locator("tr", has_text="Offsite agenda is out")  # type: ignore[attr-defined]
    shot(page, "trash")
    row.get_by_role("button", name="Restore").click()
    page.wait_for_selector("text=The post is restored")  # type: ignore[attr-defined]
    # Still in the Trash, now empty; the message leads to the post.
    assert page.url.endswith("/trash")  # type: ignore[attr-defined]
    assert page.locator("text=The trash is empty").count() == 1  # type: ignore[attr-defined]
    page.get_by_role("link", name="Open the post").click()  # type: ignore[attr-defined]
    restored = page.locator("article", has_text="Offsite agenda is out")  # type: ignore[attr-defined]
    restored.wait_for()
    assert "Thanks, looks good" in restored.inner_text()
    assert page.evaluate("location.hash") == "#" + restored.get_attribute("id")  # type: ignore[attr-defined]


def test_the_undo_button_in_the_message_brings_a_deleted_post_back_where_it_was(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.fill("#post-body", "Parking rules change on Monday")  # type: ignore[attr-defined]
    page.click("form[action='/stream/posts'] button[type=submit]")  # type: ignore[attr-defined]
    post = page.locator("article", has_text="Parking rules change on Monday")  # type: ignore[attr-defined]
    post.locator("input[name=body]").fill("Noted")
    post.get_by_role("button", name="Comment").click()
    page.locator("article", has_text="Noted").wait_for()  # type: ignore[attr-defined]

    post.get_by_role("button", name="Delete").first.click()
    message = page.locator(".flashes .alert", has_text="The post is moved to the trash")  # type: ignore[attr-defined]
    message.wait_for()
    assert post.count() == 0
    shot(page, "deleted-with-undo")
    message.get_by_role("button", name="Undo").click()
    page.wait_for_selector("text=The post is restored")  # type: ignore[attr-defined]
    assert page.url.split("#")[0] == site.url + "/stream"  # type: ignore[attr-defined]
    post.wait_for()
    assert "Noted" in post.inner_text()
    assert page.locator(".flashes button", has_text="Undo").count() == 0  # type: ignore[attr-defined]
    page.goto(site.url + "/trash")  # type: ignore[attr-defined]
    assert page.locator("text=Parking rules change on Monday").count() == 0  # type: ignore[attr-defined]


def test_a_post_is_edited_with_its_mention_kept_and_a_deleted_comment_comes_back_with_undo(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.locator("#post-body").press_sequentially("Welcome @Pri", delay=40)  # type: ignore[attr-defined]
    page.locator(".ac-option", has_text="Priya Natarajan").click()  # type: ignore[attr-defined]
    page.locator("#post-body").press_sequentially("to the team")  # type: ignore[attr-defined]
    page.click("form[action='/stream/posts'] button[type=submit]")  # type: ignore[attr-defined]
    post = page.locator("article", has_text="to the team")  # type: ignore[attr-defined]
    post.locator("a.mention", has_text="@Priya Natarajan").wait_for()

    post.get_by_role("link", name="Edit").click()
    page.wait_for_selector("h1:has-text('Edit your post')")  # type: ignore[attr-defined]
    text = page.locator("#edit-body")  # type: ignore[attr-defined]
    assert text.input_value() == "Welcome @Priya Natarajan to the team"
    text.press("End")
    text.press_sequentially(", and @Col", delay=40)
    page.locator(".ac-option", has_text="Colin Baker").click()  # type: ignore[attr-defined]
    shot(page, "post-edit")
    page.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=The post is saved.")  # type: ignore[attr-defined]
    post = page.locator("article", has_text="to the team")  # type: ignore[attr-defined]
    assert "· edited" in post.inner_text()
    assert post.locator("a.mention").all_inner_texts() == ["@Priya Natarajan", "@Colin Baker"]

    post.locator("input[name=body]").fill("Glad to have you")
    post.get_by_role("button", name="Comment").click()
    comment = page.locator(".comment", has_text="Glad to have you")  # type: ignore[attr-defined]
    comment.wait_for()
    shot(page, "comment-with-delete")
    comment.get_by_role("button", name="Delete comment").click()
    message = page.locator(".flashes .alert", has_text="The comment is moved to the trash")  # type: ignore[attr-defined]
    message.wait_for()
    assert comment.count() == 0
    shot(page, "comment-deleted-with-undo")
    message.get_by_role("button", name="Undo").click()
    page.wait_for_selector("text=The comment is restored")  # type: ignore[attr-defined]
    assert page.url == site.url + "/stream#post-" + post.get_attribute("id").removeprefix("post-")  # type: ignore[attr-defined]
    comment.wait_for()
    assert page.locator(".flashes button", has_text="Undo").count() == 0  # type: ignore[attr-defined]


def test_a_post_tags_a_colleague_and_is_for_chosen_people_through_the_pickers(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.locator("#post-body").fill("Design review notes are in the drive")  # type: ignore[attr-defined]
    page.locator("#f-tags-search").press_sequentially("Pri", delay=40)  # type: ignore[attr-defined]
    page.locator(".ac-option", has_text="Priya Natarajan").click()  # type: ignore[attr-defined]
    assert chips(page, "tags") == ["Priya Natarajan"]

    # The chosen people's picker shows once "Only chosen people" is checked, and has the focus.
    chosen = page.locator("#f-audience-search")  # type: ignore[attr-defined]
    assert not chosen.is_visible()
    page.get_by_label("Only chosen people").check()  # type: ignore[attr-defined]
    assert chosen.is_visible() and chosen.evaluate("e => e === document.activeElement")
    chosen.press_sequentially("Ada", delay=40)  # the author sees her post anyway: not offered
    page.locator("#f-audience-search ~ .ac-none").wait_for()  # type: ignore[attr-defined]
    assert not page.locator("#f-audience-search + .ac-list").is_visible()  # type: ignore[attr-defined]
    chosen.fill("")
    chosen.press_sequentially("Gra", delay=40)
    page.locator(".ac-option", has_text="Grace Okafor").click()  # type: ignore[attr-defined]
    assert chips(page, "audience") == ["Grace Okafor"]
    shot(page, "post-tags-and-audience")
    page.get_by_role("button", name="Publish").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Your post is published.")  # type: ignore[attr-defined]

    post = page.locator("article", has_text="Design review notes")  # type: ignore[attr-defined]
    assert post.locator(".post-tags").inner_text() == "with Priya Natarajan"
    assert post.locator(".post-tags a").get_attribute("href") == "/people/" + user_id(site, "priya@acme.test")
    # "visible to 2 people" (Grace, and Priya as she is tagged) opens into their names.
    names = post.locator(".audience-names li")
    assert not names.first.is_visible()
    post.get_by_text("visible to 2 people").click()
    assert sorted(names.all_inner_texts()) == ["Grace Okafor", "Priya Natarajan"]
    shot(page, "post-audience-names")

    # The edit page has them chosen, as chips.
    post.get_by_role("link", name="Edit").click()
    page.wait_for_selector("h1:has-text('Edit your post')")  # type: ignore[attr-defined]
    assert chips(page, "tags") == ["Priya Natarajan"]
    assert sorted(chips(page, "audience")) == ["Grace Okafor", "Priya Natarajan"]
    assert page.get_by_label("Only chosen people").is_checked()  # type: ignore[attr-defined]

    # Colin is not among them: his stream does not show it.
    colleague = new_page(browser)
    sign_in(colleague, site, site.colleague_email)
    assert colleague.locator("article", has_text="Design review notes").count() == 0  # type: ignore[attr-defined]
    assert colleague.locator("article").count() == 0  # type: ignore[attr-defined]


def test_a_people_picker_is_a_combobox_that_says_what_it_found_and_what_is_chosen(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/tasks")  # type: ignore[attr-defined]

    # Responsible starts as the author: the input is empty, so its description names her.
    responsible = page.get_by_role("combobox", name="Responsible")  # type: ignore[attr-defined]
    assert responsible.get_attribute("aria-autocomplete") == "list"
    assert responsible.get_attribute("aria-expanded") == "false"
    assert responsible.evaluate(DESCRIPTION) == "Chosen: Ada Lovelace"
    assert page.get_by_role("combobox", name="Participants").evaluate(DESCRIPTION) == "Nobody chosen"

    picker = page.get_by_role("combobox", name="Participants")  # type: ignore[attr-defined]
    listbox = page.locator("#" + picker.get_attribute("aria-controls"))  # type: ignore[attr-defined]
    status = page.locator("[data-name=participant_ids] [role=status]")  # type: ignore[attr-defined]
    # The list is named after the field, like its input.
    assert listbox.get_attribute("role") == "listbox"
    assert page.locator("#" + listbox.get_attribute("aria-labelledby")).inner_text() == "Participants"  # type: ignore[attr-defined]

    picker.press_sequentially("t", delay=40)  # Tomás Ibáñez and Hiro Tanaka
    options = listbox.get_by_role("option")
    options.first.wait_for()
    page.wait_for_timeout(400)  # type: ignore[attr-defined]
    count = options.count()
    assert count >= 2
    assert picker.get_attribute("aria-expanded") == "true"
    assert status.inner_text() == f"{count} people found, use the up and down arrows to choose"
    ids = options.evaluate_all("options => options.map(o => o.id)")
    assert picker.get_attribute("aria-activedescendant") == ids[0]
    picker.press("ArrowDown")
    assert picker.get_attribute("aria-activedescendant") == ids[1]
    assert options.evaluate_all("options => options.map(o => o.getAttribute('aria-selected'))") == [
        "true" if i == 1 else "false" for i in range(count)
    ]
    picked = options.nth(1).locator("span:not(.avatar)").evaluate("e => e.firstChild.textContent")
    picker.press("Enter")
    assert picker.get_attribute("aria-expanded") == "false"
    assert picker.get_attribute("aria-activedescendant") is None
    assert picker.evaluate(DESCRIPTION) == f"Chosen: {picked}"

    # Nobody matches: the list closes (it holds only options) and the status says so.
    picker.press_sequentially("zzzzq", delay=40)
    expect_text = "No active colleague matches"
    page.locator("[data-name=participant_ids] .ac-none:visible").wait_for()  # type: ignore[attr-defined]
    assert status.inner_text() == expect_text
    assert page.locator("[data-name=participant_ids] .ac-none").inner_text() == expect_text  # type: ignore[attr-defined]
    assert not listbox.is_visible() and picker.get_attribute("aria-expanded") == "false"
    assert listbox.locator(":scope > :not([role=option])").count() == 0
    picker.press("Escape")
    assert status.inner_text() == "" and not page.locator(".ac-none:visible").count()  # type: ignore[attr-defined]

    # A post's text box cannot be a combobox: it points at its named list and announces the same way.
    page.goto(site.url + "/stream")  # type: ignore[attr-defined]
    body = page.locator("#post-body")  # type: ignore[attr-defined]
    assert body.get_attribute("role") is None and body.get_attribute("aria-expanded") is None
    assert body.get_attribute("aria-autocomplete") == "list"
    body.press_sequentially("Hi @Gra", delay=40)
    mentions = page.locator("#" + body.get_attribute("aria-controls"))  # type: ignore[attr-defined]
    mentions.get_by_role("option", name="Grace Okafor").wait_for()
    assert mentions.get_attribute("aria-label") == "People to mention"
    first = mentions.get_by_role("option").first.get_attribute("id")
    assert body.get_attribute("aria-activedescendant") == first
    assert page.locator("#post-body ~ [role=status]").inner_text().startswith("1 person found")  # type: ignore[attr-defined]


def test_a_refused_picker_or_group_is_focused_and_read_with_its_error(site: Site, browser: object) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/tasks")  # type: ignore[attr-defined]
    page.fill("#f-title", "Nobody's job")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Remove Ada Lovelace").click()  # type: ignore[attr-defined]
    page.click("text=Create task")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Pick who is responsible.")  # type: ignore[attr-defined]
    focused = page.locator(":focus")  # type: ignore[attr-defined]
    assert focused.get_attribute("id") == "f-responsible_id-search"
    assert focused.get_attribute("aria-invalid") == "true"
    assert focused.evaluate(DESCRIPTION) == "Nobody chosen | Pick who is responsible."
    # The hidden select it stands for is no longer the invalid one.
    assert page.locator("select[aria-invalid]").count() == 0  # type: ignore[attr-defined]

    # A group of checkboxes refused: its first box takes the focus, inside the described group.
    with transaction(make_sessionmaker(make_engine(site.database_url))) as db:
        colin = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        tasks.create_task(db, actor=colin, title="Answer the tender", responsible_id=colin.id)
        colin_id = str(colin.id)
    page.goto(site.url + f"/people/{colin_id}/transfer")  # type: ignore[attr-defined]
    page.evaluate("document.querySelectorAll('input[name=kinds]').forEach(box => box.checked = false)")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Hand over").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Tick at least one kind of work to hand over.")  # type: ignore[attr-defined]
    assert (
        page.evaluate(  # type: ignore[attr-defined]
            """() => {
            const box = document.activeElement, group = box.closest("fieldset");
            return box.name + " " + group.getAttribute("aria-invalid") + " "
                + document.getElementById(group.getAttribute("aria-describedby")).textContent;
        }"""
        )
        == "kinds true Tick at least one kind of work to hand over."
    )


def test_links_in_text_are_underlined_and_the_focus_ring_shows_on_light_and_dark(
    site: Site, browser: object
) -> None:
    from tests.test_web_a11y import contrast

    def hex_of(rgb: str) -> str:
        return "#" + "".join(f"{int(n):02x}" for n in re.findall(r"\d+", rgb)[:3])

    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + f"/people/{user_id(site, 'colin@acme.test')}")  # type: ignore[attr-defined]
    decoration = "e => getComputedStyle(e).textDecorationLine"
    assert page.locator(".breadcrumb a").evaluate(decoration) == "underline"  # type: ignore[attr-defined]
    assert page.locator(".nav a").first.evaluate(decoration) == "none"  # type: ignore[attr-defined]

    ring = """() => { const e = document.activeElement, s = getComputedStyle(e);
        return [e.closest(".sidebar") ? "sidebar" : "page", s.outlineStyle, s.outlineWidth, s.outlineColor]; }"""
    seen = {}
    for _ in range(30):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        where, style, width, colour = page.evaluate(ring)  # type: ignore[attr-defined]
        seen.setdefault(where, (style, width, hex_of(colour)))
        if len(seen) == 2:
            break
    sidebar = hex_of(page.locator(".sidebar").evaluate("e => getComputedStyle(e).backgroundColor"))  # type: ignore[attr-defined]
    assert seen["sidebar"][:2] == ("solid", "2px") and contrast(seen["sidebar"][2], sidebar) >= 3
    assert seen["page"][:2] == ("solid", "2px") and contrast(seen["page"][2], "#ffffff") >= 3


def test_the_delete_button_waiting_for_the_email_is_reachable_and_says_why(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + f"/people/{user_id(site, 'hiro@acme.test')}/delete")  # type: ignore[attr-defined]
    page.click("button:has-text('Continue')")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Type the email to confirm")  # type: ignore[attr-defined]
    button = page.locator("#delete-button")  # type: ignore[attr-defined]
    assert button.get_attribute("aria-disabled") == "true" and not button.evaluate("b => b.disabled")
    assert button.evaluate(DESCRIPTION) == "Type the email above to turn this button on."
    # Tab from the field reaches it; pressing it sends nothing and takes the focus back to the field.
    page.focus("#f-confirm")  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.id") == "delete-button"  # type: ignore[attr-defined]
    url = page.url  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_timeout(300)  # type: ignore[attr-defined]
    assert page.url == url and page.evaluate("document.activeElement.id") == "f-confirm"  # type: ignore[attr-defined]

    page.keyboard.type("hiro@acme.test")  # type: ignore[attr-defined]
    assert (
        button.get_attribute("aria-disabled") == "false" and button.get_attribute("aria-describedby") is None
    )
    assert not page.locator("#delete-button-why").is_visible()  # type: ignore[attr-defined]
    button.click()
    page.wait_for_selector("text=Hiro Tanaka is deleted")  # type: ignore[attr-defined]


def test_a_file_is_deleted_from_the_drive_through_its_confirmation_page_without_javascript(
    site: Site, browser: object
) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1366, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    asked: list[str] = []
    page.on("dialog", lambda dialog: asked.append(dialog.message))
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/drive")
    page.set_input_files(
        "#f-file", files=[{"name": "handbook.txt", "mimeType": "text/plain", "buffer": b"Welcome"}]
    )
    page.click("form[action='/drive'] button[type=submit]")
    page.wait_for_selector("text=“handbook.txt” is uploaded.")

    page.locator("tr", has_text="handbook.txt").get_by_role("link", name="Delete").click()
    page.wait_for_url(re.compile(r".*/drive/[0-9a-f-]{36}/delete$"))
    assert page.locator("h1").inner_text() == "Delete this file?"
    shot(page, "drive-delete-confirm")
    page.get_by_role("button", name="Move the file to the trash").click()
    page.wait_for_selector("text=“handbook.txt” is moved to the trash.")
    assert page.locator("tr", has_text="handbook.txt").count() == 0
    assert asked == []
    page.goto(site.url + "/trash")
    assert page.locator("tr", has_text="handbook.txt").count() == 1
    context.close()


def test_a_participant_opens_a_task_and_a_group_chat_gains_a_member_through_the_picker(
    site: Site, browser: object
) -> None:
    from roster.messages.service import create_group_chat

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        colin = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        task = tasks.create_task(
            db,
            actor=admin,
            title="Write the release notes",
            responsible_id=admin.id,
            participant_ids=[colin.id],
            description="Summary first\nThen the fixes",
        )
        chat = create_group_chat(db, actor=admin, title="Release crew", member_ids=[colin.id])
        task_id, chat_id = task.id, chat.id
        db.commit()

    employee = new_page(browser)
    sign_in(employee, site, site.colleague_email)
    employee.goto(site.url + "/tasks")  # type: ignore[attr-defined]
    employee.get_by_role("link", name="Write the release notes", exact=True).click()  # type: ignore[attr-defined]
    employee.wait_for_url(f"**/tasks/{task_id}")  # type: ignore[attr-defined]
    assert employee.inner_text(".post-body") == "Summary first\nThen the fixes"  # type: ignore[attr-defined]
    assert employee.get_by_role("link", name="Edit task").count() == 0  # type: ignore[attr-defined]
    shot(employee, "task-page")

    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(f"{site.url}/messages/chats/{chat_id}")  # type: ignore[attr-defined]
    picker = page.locator("#f-user_ids-search")  # type: ignore[attr-defined]
    picker.press_sequentially("Gra", delay=40)
    page.locator(".ac-option", has_text="Grace Okafor").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add to the chat").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Grace Okafor is added to the chat.")  # type: ignore[attr-defined]
    members = page.locator("section[aria-labelledby=chat-members] li")  # type: ignore[attr-defined]
    assert members.count() == 3 and "Grace Okafor" in members.nth(2).inner_text()
    # Now in the chat, Grace is still found by the search, greyed out and not to be picked.
    picker = page.locator("#f-user_ids-search")  # type: ignore[attr-defined]
    picker.press_sequentially("Gra", delay=40)
    grace = page.locator(".ac-option", has_text="Grace Okafor")  # type: ignore[attr-defined]
    grace.wait_for(state="visible")
    assert "In the chat already" in grace.inner_text() and grace.get_attribute("aria-disabled") == "true"
    grace.click(force=True)  # the browser would click it; nothing happens
    picker.press("Enter")
    assert page.locator(".people-picker .chip").count() == 0  # type: ignore[attr-defined]
    picker.fill("")
    shot(page, "group-chat-members")
    # Colin is removed (after the browser asks), and the chat is gone from his list.
    page.locator("li", has_text="Colin Baker").get_by_role("button", name="Remove").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Colin Baker is removed from the chat.")  # type: ignore[attr-defined]
    employee.goto(site.url + "/messages")  # type: ignore[attr-defined]
    assert employee.locator(f"a[href='/messages/chats/{chat_id}']").count() == 0  # type: ignore[attr-defined]


def test_a_direct_conversation_starts_from_the_inbox_with_or_without_javascript(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.colleague_email)
    page.goto(site.url + "/messages")  # type: ignore[attr-defined]
    picker = page.locator("#f-user_id-search")  # type: ignore[attr-defined]
    picker.press_sequentially("Gra", delay=40)
    page.locator(".ac-option", has_text="Grace Okafor").click()  # type: ignore[attr-defined]
    shot(page, "messages-message-someone")
    page.get_by_role("button", name="Open the conversation").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"**/messages/with/{user_id(site, 'grace@acme.test')}")  # type: ignore[attr-defined]
    page.fill("#msg-body", "Hi Grace, lunch?")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    page.locator(".bubble", has_text="Hi Grace, lunch?").wait_for()  # type: ignore[attr-defined]

    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    plain = context.new_page()
    plain.set_default_timeout(15_000)
    sign_in(plain, site, site.colleague_email)
    plain.goto(site.url + "/messages")
    plain.select_option("#f-user_id", label="Hiro Tanaka — Support Lead")
    plain.get_by_role("button", name="Open the conversation").click()
    plain.wait_for_url(f"**/messages/with/{user_id(site, 'hiro@acme.test')}")
    assert plain.locator("#msg-body").is_visible()
    context.close()


def test_an_admin_creates_a_department_fills_it_through_the_picker_and_deletes_it(
    site: Site, browser: object
) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.get_by_role("link", name="Departments").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/admin/departments")  # type: ignore[attr-defined]
    page.fill("#f-name", "Sales")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Create department").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=The department Sales is created.")  # type: ignore[attr-defined]
    picker = page.locator("#f-user_ids-search")  # type: ignore[attr-defined]
    for prefix, name in (("Gra", "Grace Okafor"), ("Col", "Colin Baker")):
        picker.press_sequentially(prefix, delay=40)
        page.locator(".ac-option", has_text=name).click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add to Sales").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=are in Sales now.")  # type: ignore[attr-defined]
    members = page.locator("section[aria-labelledby=members-title] li")  # type: ignore[attr-defined]
    assert members.count() == 2
    shot(page, "department-members")
    page.locator("li", has_text="Colin Baker").get_by_role("button", name="Remove").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Colin Baker is no longer in Sales.")  # type: ignore[attr-defined]
    page.goto(site.url + "/admin/departments")  # type: ignore[attr-defined]
    assert "1 person" in page.inner_text("table")  # type: ignore[attr-defined]
    shot(page, "departments")
    page.get_by_role("link", name="Delete Sales").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Sales holds 1 person.")  # type: ignore[attr-defined]
    shot(page, "department-delete")
    page.get_by_role("button", name="Delete the department").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=The department Sales is deleted.")  # type: ignore[attr-defined]


def test_pages_fit_a_phone_and_a_long_name_stays_inside_its_card(site: Site, browser: object) -> None:
    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        long_named = provision_user(
            db,
            admin.org_id,
            actor=admin,
            email="maximiliana.wolfeschlegelsteinhausenbergerdorff@acme.test",
            first_name="Maximiliana-Alexandrina",
            last_name="Wolfeschlegelsteinhausenbergerdorff-Montgomery",
            position="Principal Engineering Manager, Platform Infrastructure",
            via="test",
        )
        long_title = "Renegotiate the Wolfeschlegelsteinhausenbergerdorff-Montgomery framework agreement"
        task = tasks.create_task(db, actor=admin, title=long_title, responsible_id=long_named.id)
        lead = crm.create_lead(db, actor=admin, title=long_title, responsible_id=long_named.id)
        task_id, lead_id = task.id, lead.id
        db.commit()
    long_id = user_id(site, "maximiliana.wolfeschlegelsteinhausenbergerdorff@acme.test")
    paths = [
        "/tasks",
        "/tasks?role=everyone",
        "/crm",
        f"/tasks/{task_id}",
        f"/tasks/{task_id}/edit",
        f"/tasks/{task_id}/delete",
        f"/crm/leads/{lead_id}/edit",
        f"/crm/leads/{lead_id}/delete",
        f"/people/{long_id}",
        f"/people/{long_id}/dismiss",
        f"/people/{long_id}/delete",
        f"/people/{long_id}/merge",
        f"/people/{long_id}/transfer",
        f"/people/{long_id}/erase",
        f"/messages/with/{long_id}",
    ]
    for width in (375, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site, site.admin_email)
        for path in paths:
            page.goto(site.url + path)
            # Wide tables scroll inside their own box; nothing else may stick out of the window.
            sticking_out = page.evaluate(
                """() => [...document.querySelectorAll('.content *')]
                    .filter(e => !e.closest('.table-wrap, .tabs'))
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .map(e => e.tagName + '.' + e.className)"""
            )
            width_used = page.evaluate("document.documentElement.scrollWidth")
            assert (width_used, sticking_out) == (width, []), (width, path)
            if path.startswith("/crm/leads/"):
                shot(page, f"long-title-lead-{path.rsplit('/', 1)[-1]}-{width}")
        shot(page, f"long-name-erase-{width}")
        context.close()


def test_a_long_word_in_a_comment_and_a_long_position_wrap_inside_a_phones_width(
    site: Site, browser: object
) -> None:
    from roster.stream import service as stream

    checksum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" * 2
    with site.session() as db:
        colleague = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        colleague.position = "Principal_Engineering_Manager_Platform_Infrastructure_and_Reliability"
        post = stream.create_post(db, actor=colleague, body="The report is out.")
        stream.add_comment(db, post, actor=colleague, body=f"The checksum is {checksum}")
        db.commit()
    for width in (390, 1280):
        _fits(browser, site, width)


def _fits(browser: object, site: Site, width: int) -> None:
    """The stream and the directory, seen by the colleague, stick out of no side of the window."""
    context = browser.new_context(viewport={"width": width, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.colleague_email)
    for path in ("/stream", "/people"):
        page.goto(site.url + path)
        # Nothing sticks out of the window, nor out of the sidebar's foot with the viewer's name.
        sticking_out = page.evaluate(
            """() => {
                const foot = document.querySelector('.sidebar-foot');
                const edge = foot.getBoundingClientRect().right;
                return [...document.querySelectorAll('.content *')]
                    .filter(e => !e.closest('.table-wrap, .tabs'))
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .concat([...foot.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > edge + 1))
                    .map(e => e.tagName + '.' + e.className);
            }"""
        )
        assert (page.evaluate("document.documentElement.scrollWidth"), sticking_out) == (width, []), path
        shot(page, f"long-words{path.replace('/', '-')}-{width}")
    context.close()


def test_the_tasks_list_takes_the_width_until_there_is_room_for_the_form_beside_it(
    site: Site, browser: object
) -> None:
    """Below 1,440 pixels the task table gets the whole width and the new-task form goes under it,
    reached by the New task button; on a wider window they share the row."""
    for width, beside in ((1280, False), (1600, True)):
        context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site, site.admin_email)
        page.goto(site.url + "/tasks")
        listing = page.locator(".grid-list-first > div").first.bounding_box()
        form = page.locator("section[aria-labelledby=new-task]").bounding_box()
        assert (form["x"] > listing["x"] + listing["width"] - 1) == beside, width
        assert (form["y"] >= listing["y"] + listing["height"] - 1) == (not beside), width
        page.get_by_role("link", name="New task").click()
        assert page.evaluate("location.hash") == "#new-task"
        context.close()


def test_an_admin_sees_a_photo_chosen_for_someone_as_on_my_profile_not_at_full_size(
    site: Site, browser: object
) -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (2400, 1600), (21, 128, 61)).save(out, format="PNG")
    big = out.getvalue()
    admin = new_page(browser)
    sign_in(admin, site, site.admin_email)
    admin.goto(site.url + f"/people/{user_id(site, site.colleague_email)}")  # type: ignore[attr-defined]
    admin.set_input_files(  # type: ignore[attr-defined]
        "#photo-file", files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}]
    )
    preview = admin.locator("#card-photo img")  # type: ignore[attr-defined]
    admin.wait_for_function(  # type: ignore[attr-defined]
        "() => (document.querySelector('#card-photo img') || {}).src?.startsWith('data:')"
    )
    box = preview.bounding_box()
    assert box is not None and box["width"] <= 112 and box["height"] <= 112
    # The same chosen picture on My profile shows at the same size.
    admin.goto(site.url + "/profile")  # type: ignore[attr-defined]
    admin.set_input_files(  # type: ignore[attr-defined]
        "#photo-file", files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}]
    )
    admin.wait_for_function(  # type: ignore[attr-defined]
        "() => (document.querySelector('#my-photo img') || {}).src?.startsWith('data:')"
    )
    mine = admin.locator("#my-photo img").bounding_box()  # type: ignore[attr-defined]
    assert mine is not None and (mine["width"], mine["height"]) == (box["width"], box["height"])
    shot(admin, "person-card-photo-preview")


def test_the_hand_over_pages_hints_stand_apart_from_the_choices_above_them(
    site: Site, browser: object
) -> None:
    from roster.stream.service import create_post
    from roster.tasks.models import TaskStatus

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        colin = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        create_post(db, actor=colin, body="Notes from the offsite")
        tasks.create_task(db, actor=colin, title="Book the venue", responsible_id=colin.id)
        done = tasks.create_task(db, actor=admin, title="Send the invites", responsible_id=colin.id)
        tasks.update_task(db, done, actor=admin, status=TaskStatus.DONE)
        colin_id = colin.id
        db.commit()
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(f"{site.url}/people/{colin_id}/transfer")  # type: ignore[attr-defined]
    shot(page, "transfer-page")
    gaps = page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('fieldset .hint')].map(hint => {
            const above = hint.previousElementSibling.getBoundingClientRect();
            return [hint.textContent.slice(0, 20), hint.getBoundingClientRect().top - above.bottom,
                    parseFloat(getComputedStyle(hint).fontSize)];
        })"""
    )
    body = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))  # type: ignore[attr-defined]
    assert len(gaps) == 2, gaps
    for text, gap, size in gaps:
        assert gap >= 8 and size < body, (text, gap, size)


def test_the_merge_pickers_search_leaves_out_the_duplicate_and_names_addresses(
    site: Site, browser: object
) -> None:
    with site.session() as db:
        colin = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        org_id = colin.org_id
        # A namesake: the account to keep.
        provision_user(
            db,
            org_id,
            actor=None,
            email="colin.b@acme.test",
            first_name="Colin",
            last_name="Baker",
            via="test",
        )
        db.commit()
    admin = new_page(browser)
    sign_in(admin, site, site.admin_email)
    admin.goto(f"{site.url}/people/{colin.id}/merge")  # type: ignore[attr-defined]
    admin.locator("#f-into_id-search").press_sequentially("Col", delay=40)  # type: ignore[attr-defined]
    admin.wait_for_selector(".ac-option >> text=colin.b@acme.test")  # type: ignore[attr-defined]
    options = admin.locator(".ac-list:visible .ac-option").all_inner_texts()  # type: ignore[attr-defined]
    assert len(options) == 1 and "colin.b@acme.test" in options[0], options
    shot(admin, "merge-picker-namesake")


def _outside(page: object, selector: str) -> list[str]:
    """What of ``selector`` (shown) lies past the window's right edge."""
    return page.evaluate(  # type: ignore[attr-defined,no-any-return]
        """(selector) => [...document.querySelectorAll(selector)]
            .filter(e => e.getClientRects().length)
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 40))""",
        selector,
    )


def test_at_phone_width_the_menu_folds_and_every_row_and_choice_is_within_reach(
    site: Site, browser: object
) -> None:
    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        colin = db.scalars(select(User).where(User.email == site.colleague_email)).one()
        tasks.create_task(db, actor=admin, title="Order the new badges", responsible_id=colin.id)
        colin_id = colin.id
        db.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)

    # The navigation waits behind its Menu button instead of filling the top of every page.
    menu = page.locator("details.nav-menu")
    people_link = page.locator("nav a[href='/people']")
    assert menu.get_attribute("open") is None and not people_link.is_visible()
    assert page.locator("main h1").first.bounding_box()["y"] < 200
    page.locator("summary", has_text="Menu").click()
    assert people_link.is_visible()
    people_link.click()
    page.wait_for_url("**/people")
    assert menu.get_attribute("open") is None

    # Every row's buttons, and every tab, are on screen: no sideways scrolling to find them.
    assert page.locator("a", has_text="Dismiss").count() >= 5
    assert _outside(page, "td.actions a, .tabs a, .content td") == []
    assert page.locator(".tabs a", has_text="Deleted").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    shot(page, "phone-people")
    # A row's card is named by the person, after its selection box: no column name above them.
    row = page.locator("tbody tr", has=page.locator("input[name=user_id]")).first
    assert row.locator("td").nth(1).get_attribute("data-label") is None
    assert row.locator("td").nth(2).get_attribute("data-label") == "Email"
    # The bar of the selected people's buttons stays in view when a box far down is ticked.
    last = page.locator("input[name=user_id]").last
    last.check()
    bar = page.locator(".bulk-bar").bounding_box()
    assert page.evaluate("window.scrollY") > 0 and 0 <= bar["y"] < 5, bar
    last.uncheck()

    for path in ("/admin/audit", "/tasks", "/admin/settings", "/people/invited"):
        page.goto(site.url + path)
        assert _outside(page, ".content *") == [], path
        assert page.evaluate("document.documentElement.scrollWidth") == 390, path
    page.goto(site.url + "/admin/audit")
    assert page.locator("td[data-label='Details']").first.is_visible()
    page.goto(site.url + "/tasks")
    status = page.locator("tr", has_text="Order the new badges").locator("select")
    assert status.is_visible() and status.bounding_box()["x"] + status.bounding_box()["width"] <= 390

    # The deletion wizard: each kind's choices sit under it, and the email in its card stays whole.
    page.goto(f"{site.url}/people/{colin_id}/delete")
    row = page.locator("tr.kind-row", has_text="tasks.task.responsible")
    kind, choices = row.locator("td").first.bounding_box(), row.locator(".radio-pills").bounding_box()
    assert choices["y"] >= kind["y"] + kind["height"] - 1 and choices["x"] + choices["width"] <= 390
    assert _outside(page, ".content *") == []
    email = page.locator(".card-head .person-sub", has_text=site.colleague_email)
    assert email.bounding_box()["height"] < 30  # one line, not a letter a line
    shot(page, "phone-delete-wizard")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_selector("text=Type the email to confirm")
    assert _outside(page, ".content *") == []
    shot(page, "phone-delete-confirm")
    context.close()


def test_at_phone_width_the_top_bar_keeps_its_height_on_a_page_shorter_than_the_screen(
    site: Site, browser: object
) -> None:
    """The narrow layout stacks the bar over the page: a short page leaves the free height to the
    page, not to the bar (which would grow into an empty dark band)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)
    conversation = f"/messages/with/{user_id(site, site.colleague_email)}"
    heights = {}
    for path, short in ((conversation, True), ("/admin/settings", False)):
        page.goto(site.url + path)
        assert (page.evaluate("document.documentElement.scrollHeight") <= 844) == short, path
        heights[path] = page.locator(".sidebar").bounding_box()["height"]
    shot(page, "phone-settings")
    page.goto(site.url + conversation)
    shot(page, "phone-conversation")
    assert heights[conversation] == heights["/admin/settings"] < 80, heights
    context.close()


def test_when_every_seat_is_taken_the_invite_page_sends_nothing_and_says_why(
    site: Site, browser: object
) -> None:
    from roster.lifecycle.invitations import invite_user

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        for n in range(12 - 1 - len(TEAM)):
            invite_user(db, admin.org_id, actor=admin, email=f"p{n}@acme.test")
        db.commit()
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/people/invite")  # type: ignore[attr-defined]
    assert seats_used(page) == 12
    send = page.get_by_role("button", name="Send invitation", exact=True)  # type: ignore[attr-defined]
    assert send.is_disabled()
    shot(page, "invite-no-seat-free")
    # The reason sits with the button, in its row of actions.
    reason = page.locator(".form-actions", has=send).locator("#no-seat-one")  # type: ignore[attr-defined]
    assert reason.is_visible() and reason.inner_text().startswith("No seat is free")
    assert (
        page.locator(".alert", has_text="No seat is free").locator("a", has_text="Change plan").is_visible()
    )  # type: ignore[attr-defined]
    # Enter in the address field sends nothing either (the form's button is off).
    page.fill("#f-email", "one.more@acme.test")  # type: ignore[attr-defined]
    page.press("#f-email", "Enter")  # type: ignore[attr-defined]
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    assert "invitation sent" not in page.inner_text("main") and seats_used(page) == 12  # type: ignore[attr-defined]


def test_without_javascript_the_phone_menu_starts_open_and_still_folds(site: Site, browser: object) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)
    people_link = page.locator("nav a[href='/people']")
    assert people_link.is_visible()
    page.locator("summary", has_text="Menu").click()
    assert not people_link.is_visible()
    page.locator("summary", has_text="Menu").click()
    people_link.click()
    page.wait_for_url("**/people")
    assert _outside(page, ".content *") == []
    context.close()


def test_on_a_wide_window_the_menu_is_always_open_and_has_no_button(site: Site, browser: object) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)
    assert page.locator("nav a[href='/people']").is_visible()
    assert not page.locator("summary", has_text="Menu").is_visible()
    # Narrowed, the menu folds; widened again, it opens (the script follows the window's width).
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("nav a[href='/people']").wait_for(state="hidden")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("nav a[href='/people']").wait_for(state="visible")
    assert not page.locator("summary", has_text="Menu").is_visible()
    context.close()


def test_on_a_phone_an_admin_starts_over_with_a_dismissed_persons_address_by_deleting_them(
    site: Site, browser: object
) -> None:
    """The customer's "dismiss did not work, it said the user already exists": the refusal offers
    deleting the old account, and after the wizard the same address is invited afresh, while a
    colleague no longer finds the old account anywhere."""
    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        grace = db.scalars(select(User).where(User.email == "grace@acme.test")).one()
        dismiss_user(db, grace, actor=admin)
        db.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)

    def invite_grace() -> None:
        page.goto(site.url + "/people/invite")
        page.fill("#f-email", "grace@acme.test")
        page.fill("#f-first_name", "Grace")
        page.fill("#f-last_name", "Okafor")
        page.click("button:has-text('Send invitation')")
        page.wait_for_load_state()

    invite_grace()
    assert "This person worked here before" in page.inner_text("main")
    assert page.locator("a", has_text="Rehire them instead").is_visible()
    delete_link = page.locator("main a", has_text="Delete their account")
    assert delete_link.is_visible()
    shot(page, "phone-invite-dismissed-address")
    delete_link.click()
    page.wait_for_url("**/delete")
    page.click("button:has-text('Continue')")
    page.fill("#f-confirm", "grace@acme.test")
    page.click("#delete-button")
    page.wait_for_selector("text=Grace Okafor is deleted")

    invite_grace()
    assert "1 invitation sent" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") == 390

    colin = new_page(browser)
    sign_in(colin, site, site.colleague_email)
    assert mention_suggestions(colin, "Gra") == ["No active colleague matches"]
    colin.goto(site.url + "/people?q=Grace")  # type: ignore[attr-defined]
    assert "Nobody matches" in colin.inner_text("main")  # type: ignore[attr-defined]


def test_on_a_phone_the_record_of_a_deleted_persons_work_fits_with_its_hand_over_button(
    site: Site, browser: object
) -> None:
    """The authorship page's "Hand over what the System User holds of theirs…" is a long label:
    on a phone it wraps inside the window instead of making the page scroll sideways."""
    from roster.lifecycle.deletion import delete_user

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        leaver = provision_user(
            db,
            admin.org_id,
            actor=admin,
            email="lee@acme.test",
            first_name="Lee",
            last_name="Leaver",
            via="test",
        )
        tasks.create_task(db, actor=leaver, title="Order chairs", responsible_id=leaver.id)
        delete_user(db, leaver, actor=admin, confirm="lee@acme.test")
        leaver_id = leaver.id
        db.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)
    page.goto(f"{site.url}/people/{leaver_id}/authorship")
    hand_over = page.locator("main a", has_text="Hand over what the System User holds of theirs")
    assert hand_over.is_visible()
    box = hand_over.bounding_box()
    assert box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    shot(page, "phone-authorship")
    context.close()


def test_an_admin_selects_two_people_and_deletes_them_in_one_step(site: Site, browser: object) -> None:
    page = new_page(browser)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/people")  # type: ignore[attr-defined]
    page.check("input[aria-label='Select Hiro Tanaka']")  # type: ignore[attr-defined]
    page.check("input[aria-label='Select Grace Okafor']")  # type: ignore[attr-defined]
    assert page.inner_text("[data-bulk-count]") == "2 people selected"  # type: ignore[attr-defined]
    shot(page, "people-bulk-selected")
    page.click("button:has-text('Delete selected…')")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:has-text('Delete 2 people?')")  # type: ignore[attr-defined]
    rows = page.locator("tr[data-person]").all_inner_texts()  # type: ignore[attr-defined]
    assert len(rows) == 2 and any("Hiro Tanaka" in r for r in rows) and any("Grace Okafor" in r for r in rows)
    shot(page, "people-bulk-delete-review")
    page.fill("#f-confirm", "2")  # type: ignore[attr-defined]
    page.click("#delete-button")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:has-text('2 people deleted')")  # type: ignore[attr-defined]
    assert page.locator("text=2 people are deleted").is_visible()  # type: ignore[attr-defined]
    shot(page, "people-bulk-deleted")
    page.click("a:has-text('Go to the Deleted tab')")  # type: ignore[attr-defined]
    page.wait_for_url("**/people/deleted")  # type: ignore[attr-defined]
    text = page.inner_text("main")  # type: ignore[attr-defined]
    assert "Hiro Tanaka" in text and "Grace Okafor" in text
    with site.session() as db:
        statuses = db.scalars(
            select(User.status).where(User.email.in_(["hiro@acme.test", "grace@acme.test"]))
        ).all()
    assert statuses == ["deleted", "deleted"]


def test_on_a_phone_a_refused_restore_offers_the_way_back_and_the_way_out_side_by_side(
    site: Site, browser: object
) -> None:
    """A restore refused because a newcomer took the address: the message leads back to the person
    and to whoever holds the address now, both within a phone's width."""
    from roster.lifecycle.deletion import delete_user

    with site.session() as db:
        admin = db.scalars(select(User).where(User.email == site.admin_email)).one()
        grace = db.scalars(select(User).where(User.email == "grace@acme.test")).one()
        delete_user(db, grace, actor=admin, confirm="grace@acme.test")
        newcomer = provision_user(
            db,
            admin.org_id,
            actor=admin,
            email="grace@acme.test",
            first_name="Grace",
            last_name="Newell",
            via="test",
        )
        grace_id, newcomer_id = grace.id, newcomer.id
        db.commit()
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, site.admin_email)
    page.goto(site.url + "/people/deleted")
    page.click("button:has-text('Restore Grace Okafor')")
    page.wait_for_load_state()
    message = page.locator(".flashes .alert", has_text="Grace Okafor was not restored")
    back = message.locator("a", has_text="Back to Grace Okafor")
    holder = message.locator("a", has_text="Open their page")
    assert back.is_visible() and holder.is_visible()
    assert back.get_attribute("href") == f"/people/{grace_id}"
    assert holder.get_attribute("href") == f"/people/{newcomer_id}"
    shot(page, "phone-restore-refused")
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    back.click()
    page.wait_for_url(f"**/people/{grace_id}")
