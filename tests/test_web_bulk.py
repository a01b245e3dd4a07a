"""Bulk dismiss and delete in the pages: plain forms from the lists, a review, then the result."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.db.base import Base
from roster.lifecycle import bulk
from roster.lifecycle.users import dismiss_user
from roster.settings import Settings
from tests.deletion_support import make_busy, references_to, snapshot
from tests.factories import OrgWithAdmin, make_org, make_user
from tests.lifecycle_helpers import events
from tests.test_web import HTML, post, sign_in


class _Form(HTMLParser):
    """The form of a page that holds ``marker``, as a browser would send it: its action, and each
    named field with its value (checked boxes and radios only; the first option of a select)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.forms: list[tuple[str, str, list[tuple[str, str]], list[str]]] = []
        self._open: tuple[str, str, list[tuple[str, str]], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = (a.get("action", ""), a.get("method", "get").lower(), [], [])
            self.forms.append(self._open)
        elif self._open is not None and tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                self._open[3].append(a["name"])
                return
            self._open[2].append((a["name"], a.get("value", "")))
        elif self._open is not None and tag == "button" and "formaction" in a:
            self._open[3].append(a["formaction"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def _form(page: str, action: str) -> list[tuple[str, str]]:
    parser = _Form(action)
    parser.feed(page)
    for form_action, _method, fields, _ in parser.forms:
        if form_action == action:
            return fields
    raise AssertionError(f"no form to {action}")


def _state(db: Session) -> dict[str, list[tuple[object, ...]]]:
    """The rows a bulk action changes (not the sign-in's own, whose last use each request moves)."""
    names = ("users", "audit_events", "lifecycle_operations", "authorship")
    return snapshot(db, [Base.metadata.tables[name] for name in names])


def _setup(db: Session) -> tuple[OrgWithAdmin, list[User]]:
    o = make_org(db, plan="enterprise")
    return o, [make_user(db, o.org, first_name=name, last_name="Import") for name in ("Ann", "Ben", "Cat")]


def _review(client: TestClient, action: str, people: list[User]) -> str:
    answer = client.get(
        f"/people/bulk/{action}", params=[("user_id", str(u.id)) for u in people], headers=HTML
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def test_admins_see_a_box_per_person_and_the_bulk_buttons_employees_do_not(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, (ann, ben, cat) = _setup(db)
    dismiss_user(db, cat, actor=o.admin)
    sign_in(client, db, settings, o.admin)
    page = client.get("/people", headers=HTML).text
    assert 'action="/people/bulk/delete"' in page and 'formaction="/people/bulk/dismiss"' in page
    assert "Dismiss selected…" in page and "Delete selected…" in page
    boxes = re.findall(r'name="user_id" value="([^"]+)"', page)
    assert set(boxes) == {str(ann.id), str(ben.id)}  # not the admin themself
    dismissed = client.get("/people/dismissed", headers=HTML).text
    assert re.findall(r'name="user_id" value="([^"]+)"', dismissed) == [str(cat.id)]
    assert "Delete selected…" in dismissed

    client.cookies.clear()
    sign_in(client, db, settings, ann)
    page = client.get("/people", headers=HTML).text
    assert 'type="checkbox"' not in page and "Delete selected" not in page
    assert client.get(f"/people/bulk/delete?user_id={ben.id}", headers=HTML).status_code == 403


def test_the_dismiss_review_lists_the_people_and_leaves_out_who_cannot_be_dismissed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, (ann, ben, cat) = _setup(db)
    dismiss_user(db, cat, actor=o.admin)
    csrf = sign_in(client, db, settings, o.admin)
    before = _state(db)
    page = _review(client, "dismiss", [ann, ben, cat, o.admin])
    assert _state(db) == before  # the review changes nothing
    assert "Dismiss 2 people?" in page
    assert f'data-refused="{cat.id}"' in page and "already dismissed" in page
    assert f'data-refused="{o.admin.id}"' in page and "your own account" in page
    fields = _form(page, "/people/bulk/dismiss")
    assert [v for k, v in fields if k == "user_id"] == [str(ann.id), str(ben.id)]

    done = post(
        client, "/people/bulk/dismiss", csrf, {"user_id": [str(ann.id), str(ben.id)], "reason": "mistake"}
    )
    assert done.status_code == 200
    assert "2 people are dismissed" in done.text
    assert f'href="/people/{ann.id}"' in done.text and f'href="/people/{ben.id}"' in done.text
    db.expire_all()
    assert {db.get(User, (o.org.id, u.id)).status for u in (ann, ben)} == {"dismissed"}  # type: ignore[union-attr]
    assert len(events(db, o.org.id, "user.dismissed")) == 3


def test_deleting_from_the_review_moves_the_work_and_shows_each_person(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, (ann, ben, cat) = _setup(db)
    make_busy(client, db, ann, [cat, o.admin])
    csrf = sign_in(client, db, settings, o.admin)
    page = _review(client, "delete", [ann, ben])
    assert "Delete 2 people?" in page and "Type 2 to confirm" in page
    assert "What they own together" in page and "Posts" in page
    # The successor picker does not offer the people being deleted.
    picker = page[page.index('name="successor_id"') :]
    picker = picker[: picker.index("</select>")]
    assert f'<option value="{ann.id}"' not in picker and f'<option value="{cat.id}"' in picker

    data = {**dict(_form(page, "/people/bulk/delete")), "user_id": [str(ann.id), str(ben.id)]}
    data.update({"default": "successor", "successor_id": str(cat.id), "confirm": "2"})
    done = post(client, "/people/bulk/delete", csrf, data)
    assert done.status_code == 200, done.text
    assert "2 people are deleted" in done.text and 'href="/people/deleted"' in done.text
    assert f'href="/people/{ann.id}"' in done.text
    db.expire_all()
    assert references_to(db, ann, visible_only=True) == {}
    assert references_to(db, cat).get("stream.post.author", 0) >= 1
    assert len(events(db, o.org.id, "user.deleted")) == 2
    assert f"/people/{ann.id}/restore" in client.get("/people/deleted", headers=HTML).text


def test_a_wrong_number_or_a_missing_successor_is_marked_on_its_field_and_changes_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, (ann, ben, cat) = _setup(db)
    csrf = sign_in(client, db, settings, o.admin)
    ids = [str(ann.id), str(ben.id)]
    before = _state(db)
    wrong = post(client, "/people/bulk/delete", csrf, {"user_id": ids, "confirm": "3"})
    assert wrong.status_code == 422
    assert 'id="e-confirm"' in wrong.text and "Type 2 to confirm" in wrong.text
    assert 'value="3"' in wrong.text  # what was typed is given back
    missing = post(
        client, "/people/bulk/delete", csrf, {"user_id": ids, "confirm": "2", "default": "successor"}
    )
    assert missing.status_code == 422 and 'id="e-successor_id"' in missing.text
    among = post(
        client,
        "/people/bulk/delete",
        csrf,
        {"user_id": ids, "confirm": "2", "default": "successor", "successor_id": str(ben.id)},
    )
    assert among.status_code == 422 and 'id="e-successor_id"' in among.text
    assert "among the people being deleted" in among.text
    odd = post(client, "/people/bulk/delete", csrf, {"user_id": ids, "confirm": "2", "default": "delete"})
    assert odd.status_code == 422 and 'id="e-default"' in odd.text
    assert _state(db) == before
    nothing = post(client, "/people/bulk/delete", csrf, {"confirm": "0"})
    assert nothing.status_code == 200 and "Choose the people first" in nothing.text
    assert _state(db) == before
    assert cat.status == "active"


def test_a_stale_selection_comes_back_to_the_review_with_a_message(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o, (ann, ben, cat) = _setup(db)
    csrf = sign_in(client, db, settings, o.admin)
    page = _review(client, "dismiss", [ann, ben, cat])
    assert "Dismiss 3 people?" in page
    dismiss_user(db, ben, actor=o.admin)  # someone else dismissed Ben meanwhile
    before = _state(db)
    stale = post(client, "/people/bulk/dismiss", csrf, {"user_id": [str(ann.id), str(ben.id), str(cat.id)]})
    assert stale.status_code == 409
    assert "Nothing was dismissed" in stale.text and "cannot be dismissed any more" in stale.text
    assert f'data-refused="{ben.id}"' in stale.text and "Dismiss 2 people?" in stale.text
    assert _state(db) == before

    # The same for a deletion: the number to type changes, so it is asked again.
    page = _review(client, "delete", [ann, cat])
    dismiss_user(db, cat, actor=o.admin)
    bulk.delete_users(db, [cat], actor=o.admin, confirm="1")
    stale = post(client, "/people/bulk/delete", csrf, {"user_id": [str(ann.id), str(cat.id)], "confirm": "2"})
    assert stale.status_code == 409 and "Type 1 to confirm" in stale.text
    assert f'data-refused="{cat.id}"' in stale.text and "already deleted" in stale.text
    db.expire_all()
    assert db.get(User, (o.org.id, ann.id)).status == "active"  # type: ignore[union-attr]


def test_a_bulk_form_needs_its_csrf_token(client: TestClient, db: Session, settings: Settings) -> None:
    o, (ann, *_rest) = _setup(db)
    sign_in(client, db, settings, o.admin)
    before = _state(db)
    answer = client.post("/people/bulk/dismiss", data={"user_id": [str(ann.id)]}, headers=HTML)
    assert answer.status_code == 403
    assert _state(db) == before
