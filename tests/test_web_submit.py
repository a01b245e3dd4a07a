"""Every button on every page, pressed: each form of each page sent as the page offers it (the
values it was rendered with) and with every field left empty. Whatever the answer, it is a page
that explains itself, never a server error."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.settings import Settings
from tests.test_web import HTML, sign_in
from tests.test_web_forms import _pages

# Inputs a browser sends only when checked.
_CHECKED = {"checkbox", "radio"}


@dataclass
class _Form:
    page: str
    action: str
    method: str
    values: list[tuple[str, str]] = field(default_factory=list)  # as rendered
    names: list[tuple[str, str]] = field(default_factory=list)  # every field: name, kind


class _Forms(HTMLParser):
    """A page's forms, each with the values a browser would send if its button were pressed."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._select: tuple[str, list[str], list[str], bool] | None = (
            None  # name, options, selected, multiple
        )
        self._option: str | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        flag = {k for k, _ in attrs}
        if tag == "form":
            self._form = _Form(self.page, a.get("action") or self.page, (a.get("method") or "get").upper())
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name and "disabled" not in flag:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            self._form.names.append((name, kind))
            if kind not in _CHECKED or "checked" in flag:
                self._form.values.append((name, a.get("value", "on" if kind in _CHECKED else "")))
        elif tag == "textarea" and name:
            self._form.names.append((name, "textarea"))
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._form.names.append((name, "select"))
            self._select = (name, [], [], "multiple" in flag)
        elif tag == "option" and self._select is not None:
            self._option = a.get("value")
            if self._option is not None:
                self._select[1].append(self._option)
                if "selected" in flag:
                    self._select[2].append(self._option)

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.values.append((self._textarea[0], "".join(self._textarea[1])))
            self._textarea = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, selected, multiple = self._select
            # A list picks its first option when none is selected; a multiple one sends nothing.
            for value in selected or ([] if multiple else options[:1]):
                self._form.values.append((name, value))
            self._select = None


def _forms(client: TestClient, pages: list[str]) -> list[_Form]:
    found: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Form] = {}
    for page in pages:
        answer = client.get(page, headers=HTML)
        if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/html"):
            continue
        parser = _Forms(page)
        parser.feed(answer.text)
        for form in parser.forms:
            if form.method == "POST":
                found.setdefault((form.action, form.method, tuple(form.names)), form)
    return list(found.values())


def _press(client: TestClient, form: _Form, data: list[tuple[str, str]], csrf: str) -> int:
    data = [(k, csrf if k == "csrf_token" else v) for k, v in data]  # the session's own token
    # Encoded here: httpx takes only a mapping as form data, and a form may repeat a name.
    sent = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post(form.action, content=urlencode(data), headers=sent)
    where = f"{form.action} (a form of {form.page}) with {data}"
    assert answer.status_code < 500, (where, answer.status_code, answer.text[:800])
    # The session's token was sent: a refusal, if any, is the form's own, not the CSRF check's.
    assert "form has expired" not in answer.text, where
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("text/html"), where
        assert "<h1" in answer.text, where
    return answer.status_code


@pytest.mark.parametrize("who", ["admin", "employee"])
def test_every_form_sent_as_offered_or_left_empty_answers_with_a_page(
    app: FastAPI, client: TestClient, db: Session, settings: Settings, who: str
) -> None:
    admin, pages, _public = _pages(app, db, settings)
    person = admin
    if who == "employee":
        person = next(
            u
            for u in db.scalars(select(User).where(User.org_id == admin.org_id, User.is_system.is_(False)))
            if not u.is_admin and u.is_active
        )
    sign_in(client, db, settings, person)
    forms = _forms(client, pages)
    assert len(forms) > (20 if who == "admin" else 8), [f.action for f in forms]
    done = 0
    for form in forms:
        for data in (form.values, [(n, "") for n, _ in form.names]):
            csrf = sign_in(client, db, settings, person)  # a fresh session: a form may sign out
            done += _press(client, form, data, csrf) < 400
    # Most forms sent as offered do what they offer: the presses reach the handlers.
    assert done > len(forms) // 2, (done, len(forms))
