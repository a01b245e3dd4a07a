"""What assistive technology reads on the pages, checked in their HTML and CSS.

A refused form names the control at fault: the error has an id, the control points at it with
``aria-describedby`` and says ``aria-invalid="true"`` (roster.js then moves the focus to the first
such control; tests/test_browser.py checks that part).
"""

from __future__ import annotations

import html
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from roster.settings import Settings
from tests.factories import make_org, make_user
from tests.test_web import HTML, post, sign_in

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Elements(HTMLParser):
    """Every element's tag and attributes, and the text inside each element that has an id."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []  # tag, id ("" for none)
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag in _VOID:
            return
        self._open.append((tag, a.get("id", "")))
        if a.get("id"):
            self.text[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text[element_id] += data


def linked_error(page: str, message: str) -> tuple[str, dict[str, str]]:
    """The control whose error says ``message``: it is invalid and described by the error."""
    parsed = _Elements(page)
    ids = [i for i, text in parsed.text.items() if message in html.unescape(text) and i.startswith("e-")]
    assert len(ids) == 1, (message, ids)
    controls = [
        (tag, a)
        for tag, a in parsed.elements
        if ids[0] in a.get("aria-describedby", "").split() and a.get("aria-invalid") == "true"
    ]
    assert len(controls) == 1, (message, controls)
    return controls[0]


def test_refused_pickers_groups_and_token_names_point_at_their_errors(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    csrf = sign_in(client, db, settings, o.admin)

    # A new task with nobody responsible.
    answer = post(client, "/tasks", csrf, {"title": "No owner"})
    assert answer.status_code == 422
    tag, attrs = linked_error(answer.text, "Pick who is responsible.")
    assert (tag, attrs["id"]) == ("select", "f-responsible_id")

    # The delete wizard: "Successor" chosen, nobody picked.
    answer = client.get(
        f"/people/{leaver.id}/delete/review",
        params={"kind:tasks.task.responsible": "successor"},
        headers=HTML,
    )
    tag, attrs = linked_error(answer.text, "Pick the colleague who takes over, or choose another option.")
    assert (tag, attrs["id"]) == ("select", "f-successor_id")

    # Handing work over: no kind ticked (a group of checkboxes), nobody to hand it to.
    answer = post(client, f"/people/{leaver.id}/transfer", csrf, {})
    assert answer.status_code == 422
    assert linked_error(answer.text, "Tick at least one kind of work to hand over.")[0] == "fieldset"
    assert linked_error(answer.text, "Pick the colleague who takes over.")[1]["id"] == "f-to_id"

    # A post for "Only chosen people" with nobody chosen.
    answer = post(client, "/stream/posts", csrf, {"body": "For a few", "visibility": "people"})
    assert answer.status_code == 422
    message = "Choose the people who can see the post, or let everyone see it."
    assert linked_error(answer.text, message)[1]["id"] == "f-audience"

    # A token without a name.
    answer = post(client, "/profile/tokens", csrf, {"name": " ", "expires_in_days": "90"})
    assert answer.status_code == 422
    assert linked_error(answer.text, "Name the token after what will use it")[1]["id"] == "f-token-name"


def test_a_refused_restore_window_or_time_zone_is_marked_on_its_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    o.org.timezone = "Europe/Lisbon"
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    form = {"restore_window_days": "30", "timezone": "Europe/Lisbon"}

    for typed, message in (
        ("ten", "The restore window is a number of days."),
        ("0", "The restore window is 1 to 3650 days."),
        ("99999", "The restore window is 1 to 3650 days."),
    ):
        answer = post(client, "/admin/settings", csrf, {**form, "restore_window_days": typed})
        assert answer.status_code == 422, typed
        tag, attrs = linked_error(answer.text, message)
        assert (tag, attrs["id"], attrs["value"]) == ("input", "f-window", typed)
        assert attrs["aria-describedby"] == "e-restore_window_days h-window"  # the error, then the hint
        assert 'role="alert"' not in answer.text  # said on the field, not again at the top
        assert answer.text.count('aria-invalid="true"') == 1  # the zone, which is fine, is not marked

    # A zone that is not in the list (the form changed by hand): the list keeps the stored zone.
    answer = post(
        client, "/admin/settings", csrf, {**form, "restore_window_days": "45", "timezone": "Lisbon"}
    )
    assert answer.status_code == 422
    tag, attrs = linked_error(answer.text, "'Lisbon' is not a time zone")
    assert (tag, attrs["id"], attrs["aria-describedby"]) == ("select", "f-timezone", "e-timezone h-timezone")
    assert '<option value="Europe/Lisbon" selected>' in answer.text
    window = re.search(r'<input id="f-window"[^>]*>', answer.text)
    assert window and 'value="45"' in window.group(0) and "aria-invalid" not in window.group(0)

    db.refresh(o.org)
    assert (o.org.restore_window_days, o.org.timezone) == (30, "Europe/Lisbon")
    # Nothing is marked on a page that refused nothing.
    assert 'aria-invalid="true"' not in client.get("/admin/settings", headers=HTML).text


CSS = Path(__file__).resolve().parent.parent / "src" / "roster" / "web" / "static" / "roster.css"


def _tokens() -> dict[str, str]:
    """roster.css's custom properties that are plain colours (#rrggbb)."""
    root = re.search(r":root\s*\{(.*?)\}", CSS.read_text(), re.S)
    assert root
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


def contrast(one: str, two: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_ratio_is_computed_as_wcag_does() -> None:
    assert round(contrast("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast("#6b7386", "#f5f6fa"), 2) == 4.4  # the grey the review measured


def test_text_colours_meet_aa_on_every_light_surface_and_the_focus_ring_3_to_1() -> None:
    tokens = _tokens()
    surfaces = ["bg", "surface", "surface-2", "brand-soft"]
    for text in ("text", "text-2", "text-3", "brand"):
        for surface in surfaces:
            ratio = contrast(tokens[text], tokens[surface])
            assert ratio >= 4.5, (text, surface, round(ratio, 2))
    for surface in surfaces:
        ratio = contrast(tokens["focus-ring"], tokens[surface])
        assert ratio >= 3, (surface, round(ratio, 2))
    assert contrast(tokens["focus-ring-on-sidebar"], tokens["sidebar"]) >= 3

    # The ring is drawn with those colours, as a solid outline.
    css = CSS.read_text()
    assert re.search(r"^:focus-visible \{ outline: 2px solid var\(--focus-ring\);", css, re.M)
    assert ".sidebar :focus-visible { outline-color: var(--focus-ring-on-sidebar); }" in css
    assert re.search(r"\.sidebar \{\s*background: var\(--sidebar\);", css)

    # The error pages' big status number is large text: 3:1 on the page and on a card.
    code = re.search(r"^\.error-page \.code \{[^}]*color: (#[0-9a-fA-F]{6});", css, re.M)
    assert code
    assert min(contrast(code.group(1), tokens[s]) for s in ("bg", "surface")) >= 3


def test_every_fields_hint_is_read_with_its_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    login = client.get("/login", headers=HTML).text
    organization = next(a for tag, a in _Elements(login).elements if a.get("id") == "f-organization")
    assert "short name of your company" in _Elements(login).text[organization["aria-describedby"]]

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    from roster.tasks import service as tasks

    tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    sign_in(client, db, settings, o.admin)
    pages = ["/stream", "/profile", "/people/invite", "/admin/settings", f"/people/{leaver.id}"]
    for path in pages:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, path
        parsed = _Elements(answer.text)
        described = {i for _, a in parsed.elements for i in a.get("aria-describedby", "").split()}
        hints = [a for tag, a in parsed.elements if tag == "div" and "hint" in a.get("class", "").split()]
        assert hints, path
        for hint in hints:
            assert hint.get("id") in described, (path, hint)


def test_a_conversations_page_is_titled_with_the_other_person_or_the_chat(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.messages import service as messages

    o = make_org(db)
    anna = make_user(db, o.org, first_name="Anna", last_name="Jones")
    named = messages.create_group_chat(db, actor=o.admin, title="Launch team", member_ids=[anna.id])
    unnamed = messages.create_group_chat(db, actor=o.admin, title="", member_ids=[anna.id])
    sign_in(client, db, settings, o.admin)

    def title(path: str) -> str:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, path
        found = re.search(r"<title>(.*?)</title>", answer.text, re.S)
        assert found
        return html.unescape(found.group(1))

    org = o.org.name
    assert title("/messages") == f"Messages · {org}"
    assert title(f"/messages/with/{anna.id}") == f"Anna Jones · Messages · {org}"
    assert title(f"/messages/chats/{named.id}") == f"Launch team · Messages · {org}"
    assert title(f"/messages/chats/{unnamed.id}") == f"Ada Admin, Anna Jones · Messages · {org}"


def test_the_menu_is_the_banner_and_no_unnamed_complementary_landmark_sits_in_main(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    task = tasks.create_task(db, actor=o.admin, title="Renew the lease", responsible_id=o.admin.id)
    sign_in(client, db, settings, o.admin)
    for path in ("/stream", "/profile", f"/people/{o.admin.id}", f"/tasks/{task.id}"):
        page = client.get(path, headers=HTML).text
        elements = _Elements(page).elements
        assert [a.get("class") for tag, a in elements if tag == "header"] == ["sidebar"], path
        assert not [a for tag, a in elements if a.get("aria-label") == "Main"], path
        assert all(a.get("aria-label") for tag, a in elements if tag == "aside"), path


def skipped_headings(page: str) -> list[str]:
    """Headings that skip a level (an h3 with no h2 before it since the h1), and a first heading
    that is not the h1."""
    levels = [int(tag[1]) for tag, _ in _Elements(page).elements if re.fullmatch(r"h[1-6]", tag)]
    wrong = [] if levels[:1] == [1] else [f"starts with h{levels[0]}" if levels else "no heading"]
    return wrong + [f"h{b} after h{a}" for a, b in itertools.pairwise(levels) if b > a + 1]


def test_headings_go_down_one_level_at_a_time_on_empty_and_signed_out_pages(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.directory import departments

    for path in ("/login", "/forgot-password", "/invite/not-a-token", "/reset-password/not-a-token"):
        assert not skipped_headings(client.get(path, headers=HTML).text), path

    o = make_org(db)
    idle = make_user(db, o.org, first_name="Ida", last_name="Idle")
    department = departments.create_department(db, o.org.id, actor=o.admin, name="Empty team")
    employee = make_user(db, o.org, first_name="Eve", last_name="Employee")
    paths = [
        "/stream",
        "/tasks",
        "/drive",
        "/crm",
        "/trash",
        f"/messages/with/{idle.id}",
        "/people?q=zzzz",
        "/people/invited",
        "/people/dismissed",
        "/people/deleted",
        f"/people/{idle.id}/authorship",
        f"/people/{idle.id}/transfer",
        f"/people/{idle.id}/delete",
        "/admin/departments",
        f"/admin/departments/{department.id}",
        "/admin/settings",
        "/admin/audit?event=user.merged",
    ]
    sign_in(client, db, settings, o.admin)
    for path in paths:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, path
        assert not skipped_headings(answer.text), (path, skipped_headings(answer.text))
    # An employee's directory lists people under its h1.
    sign_in(client, db, settings, employee)
    assert not skipped_headings(client.get("/people", headers=HTML).text)
