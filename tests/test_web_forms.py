"""Every form on every page: its text fields stop at the length the server accepts.

A value longer than a route's ``max_length`` is refused with a 422 page, which cannot show the form
again with what was typed. So every text field of every form carries a ``maxlength`` within the
limit of the route the form is sent to, and the browser stops typing there. (Where a service's
own rule is tighter, the field carries that one, and a longer value sent anyway is shown beside
the field with the form as it was.) The pages are all the app's pages, read from its route
table; the limits are read from the routes the forms are sent to.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.demo import create_demo
from roster.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.routes import form_limits, page_routes
from tests.test_web import HTML, sign_in

# Inputs nobody types free text into, where HTML's maxlength does not apply.
_NOT_TYPED = {"hidden", "checkbox", "radio", "file", "submit", "button", "date", "number"}


@dataclass
class _Form:
    action: str
    method: str
    fields: list[tuple[str, str, str | None]] = field(default_factory=list)  # name, type, maxlength


class _Forms(HTMLParser):
    """The forms of a page, with their named inputs and textareas."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[_Form] = []
        self._open: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._open = _Form(a.get("action") or self.page, (a.get("method") or "get").upper())
            self.forms.append(self._open)
        elif self._open is not None and tag in ("input", "textarea") and a.get("name"):
            kind = "textarea" if tag == "textarea" else (a.get("type") or "text")
            self._open.fields.append((a["name"] or "", kind, a.get("maxlength")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def _route_of(
    limits: dict[tuple[str, str], dict[str, int]], method: str, action: str
) -> dict[str, int] | None:
    path = urlsplit(action).path
    for (route_method, template), fields in limits.items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if route_method == method and re.fullmatch(pattern, path):
            return fields
    return None


def _pages(app: FastAPI, db: Session, settings: Settings) -> tuple[User, list[str], list[str]]:
    """Every page of the app, with sample objects for its path, on the demo organization: its
    admin, the pages for the signed-in, and the public ones."""
    from roster.accounts import service as accounts
    from roster.crm.service import create_lead
    from roster.drive.service import upload_file
    from roster.drive.storage import get_storage
    from roster.lifecycle.deletion import delete_user
    from roster.lifecycle.invitations import invite_user
    from roster.lifecycle.users import dismiss_user
    from roster.mail.models import OutboxMessage
    from roster.messages.service import create_group_chat
    from roster.stream.service import create_post
    from roster.tasks.service import create_task, delete_task

    create_demo(db, password=PASSWORD, settings=settings)
    org = accounts.get_organization_by_slug(db, "demo")
    assert org is not None
    people = list(db.scalars(select(User).where(User.org_id == org.id, User.is_system.is_(False))))
    admin = next(u for u in people if u.is_admin)
    employee = next(u for u in people if not u.is_admin and u.is_active)
    dismissed = make_user(db, org)
    dismiss_user(db, dismissed, actor=admin)
    _, invite_url = invite_user(db, org.id, actor=admin, email="new.face@demo.test", settings=settings)
    accounts.request_password_reset(db, settings, organization=org.slug, email=employee.email)
    mail = db.scalars(select(OutboxMessage.body_text).where(OutboxMessage.to_address == employee.email)).all()
    reset = next(m for m in (re.search(r"(/reset-password/\S+)", b) for b in mail) if m)
    chat = create_group_chat(db, actor=admin, title="Launch", member_ids=[employee.id])
    duplicate = make_user(db, org)
    operation = delete_user(db, duplicate, actor=admin, confirm=duplicate.email).operation_id
    post = create_post(db, actor=admin, body=f"Welcome @[{employee.id}]")  # the admin's, to edit
    task = create_task(db, actor=admin, title="Sample task", responsible_id=admin.id)
    deleted = create_task(db, actor=admin, title="Deleted task", responsible_id=admin.id)
    item = delete_task(db, deleted, actor=admin)
    lead = create_lead(db, actor=admin, title="Sample lead", responsible_id=admin.id)
    file = upload_file(
        db,
        actor=admin,
        name="sample.txt",
        content_type="text/plain",
        stream=io.BytesIO(b"sample"),
        storage=get_storage(settings, org.id),
        max_bytes=1024,
    )
    from roster.directory.departments import list_departments

    sales = list_departments(db, org.id, name_filter="Sales")[0][0]  # the demo's, with its people
    samples = {
        "department_id": str(sales.id),
        "user_id": str(employee.id),
        "chat_id": str(chat.id),
        "post_id": str(post.id),
        "task_id": str(task.id),
        "item_id": str(item.id),
        "lead_id": str(lead.id),
        "file_id": str(file.id),
        "operation_id": str(operation),
        "invite_token": urlsplit(invite_url).path.rsplit("/", 1)[-1],
        "reset_token": reset.group(1).rsplit("/", 1)[-1],
    }
    signed_in, public = [], []
    for route in page_routes(app):
        values = {**samples, "user_id": str(dismissed.id)} if route.path.endswith("/rehire") else samples
        try:
            path = route.path.format_map(values)
        except KeyError as missing:
            raise AssertionError(f"no sample {missing} for {route.path}") from None
        (public if route.access == "public" else signed_in).append(path)
    return admin, signed_in, public


def test_every_text_field_of_every_form_stops_at_the_length_its_route_accepts(
    app: FastAPI, client: TestClient, db: Session, settings: Settings
) -> None:
    limits = form_limits(app)
    admin, signed_in, public = _pages(app, db, settings)
    with TestClient(app) as anonymous:
        seen = {path: anonymous.get(path, headers=HTML) for path in public}
    sign_in(client, db, settings, admin)
    seen.update({path: client.get(path, headers=HTML) for path in signed_in})

    checked: set[str] = set()
    wrong = []
    for path, answer in seen.items():
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        parser = _Forms(path)
        parser.feed(answer.text)
        for form in parser.forms:
            accepted = _route_of(limits, form.method, form.action)
            assert accepted is not None, (
                f"{path}: a form goes to {form.method} {form.action}, which no route takes"
            )
            for name, kind, maxlength in form.fields:
                if kind in _NOT_TYPED or name not in accepted:
                    continue
                checked.add(name)
                # A text area's line breaks count one character in the browser and arrive as two.
                longest = 2 * int(maxlength or 0) if kind == "textarea" else int(maxlength or 0)
                if not 0 < longest <= accepted[name]:
                    wrong.append(
                        f"{path}: {name} ({form.method} {form.action}) maxlength={maxlength}, takes {accepted[name]}"
                    )
    assert not wrong, "\n".join(wrong)
    # The pages were read: the sign-in, the profile, a task, a post, a deletion's confirmation, a lead.
    expected = {"password", "first_name", "title", "body", "confirm", "contact_phone", "notes", "name"}
    assert expected <= checked, sorted(checked)
