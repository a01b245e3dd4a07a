"""What a changed password, a used reset link and a changed address leave alive; cookie flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.app import create_app
from roster.mail.models import OutboxMessage
from roster.settings import Settings
from tests.conftest import make_settings
from tests.factories import PASSWORD, auth, make_org, make_user
from tests.test_web import HTML, sign_in

API = "/api/v1"
NEW_PASSWORD = "a-brand-new-password-1"


def _reset_links(client: TestClient, db: Session, slug: str, email: str, count: int) -> list[str]:
    """Ask for ``count`` reset links and return their tokens, oldest first."""
    for _ in range(count):
        asked = client.post(f"{API}/auth/password-reset", json={"organization": slug, "email": email})
        assert asked.status_code == 202
    mails = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.purpose == "password_reset", OutboxMessage.to_address == email)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ).all()
    links = [line for m in mails for line in m.body_text.splitlines() if "/reset-password/" in line]
    return [link.rsplit("/", 1)[1] for link in links]


def _confirm(client: TestClient, token: str, password: str = NEW_PASSWORD) -> int:
    answer = client.post(f"{API}/auth/password-reset/confirm", json={"token": token, "password": password})
    return answer.status_code


def test_changing_the_password_through_the_api_ends_every_other_sign_in_but_the_one_in_use(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    in_use = auth(db, person)
    other_login = auth(db, person)
    other_browser = accounts.issue_token(db, person, kind="session").secret
    script = accounts.issue_token(db, person, kind="pat", name="script").secret
    colleague = auth(db, o.admin)

    changed = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=in_use,
    )
    assert changed.status_code == 204, changed.text

    assert client.get(f"{API}/me", headers=in_use).status_code == 200
    assert client.get(f"{API}/me", headers=other_login).status_code == 401
    assert client.get(f"{API}/me", headers={"Authorization": f"Bearer {other_browser}"}).status_code == 401
    assert client.get(f"{API}/me", headers={"Authorization": f"Bearer {script}"}).status_code == 200
    assert client.get(f"{API}/me", headers=colleague).status_code == 200  # only the person's own


def test_changing_the_password_on_the_profile_page_ends_every_other_sign_in_but_this_browser(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    other_login = auth(db, person)
    csrf = sign_in(client, db, settings, person)

    changed = client.post(
        "/profile/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text

    assert client.get("/profile", headers=HTML, follow_redirects=False).status_code == 200
    assert client.get(f"{API}/me", headers=other_login).status_code == 401


def test_a_wrong_current_password_ends_nothing(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    in_use, other_login = auth(db, person), auth(db, person)
    [link] = _reset_links(client, db, "acme", person.email or "", 1)

    refused = client.post(
        f"{API}/me/password",
        json={"current_password": "not-the-password-1", "new_password": NEW_PASSWORD},
        headers=in_use,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "wrong_password"
    assert client.get(f"{API}/me", headers=other_login).status_code == 200
    assert _confirm(client, link) == 204


def test_a_changed_password_makes_earlier_reset_links_dead(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    [link] = _reset_links(client, db, "acme", person.email or "", 1)

    changed = client.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth(db, person),
    )
    assert changed.status_code == 204
    assert _confirm(client, link, "whoever-has-the-mail-1") == 404
    signed_in = client.post(
        f"{API}/auth/login", json={"organization": "acme", "email": person.email, "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200


def test_using_one_reset_link_makes_the_persons_other_links_dead(client: TestClient, db: Session) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    colleague = make_user(db, o.org)
    first, second = _reset_links(client, db, "acme", person.email or "", 2)
    [theirs] = _reset_links(client, db, "acme", colleague.email or "", 1)

    assert _confirm(client, second) == 204
    assert _confirm(client, first, "whoever-has-the-mail-1") == 404
    assert _confirm(client, theirs) == 204  # another person's link is theirs to use


def test_a_changed_email_address_makes_the_links_mailed_to_the_old_one_dead(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    [link] = _reset_links(client, db, "acme", person.email or "", 1)

    moved = client.patch(
        f"{API}/users/{person.id}", json={"email": "new.address@acme.test"}, headers=auth(db, o.admin)
    )
    assert moved.status_code == 200, moved.text
    assert _confirm(client, link) == 404


def test_a_reset_link_mailed_before_a_dismissal_does_not_open_the_account_after_a_rehire(
    client: TestClient, db: Session
) -> None:
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    [link] = _reset_links(client, db, "acme", person.email or "", 1)
    admin = auth(db, o.admin)

    assert client.post(f"{API}/users/{person.id}/dismiss", json={}, headers=admin).status_code == 200
    assert client.post(f"{API}/users/{person.id}/rehire", headers=admin).status_code == 200
    assert _confirm(client, link) == 404


@pytest.mark.parametrize("base_url", ["https://intranet.example.test", "http://127.0.0.1:8000"])
def test_every_cookie_is_secure_exactly_when_people_reach_roster_over_https(
    connection: Connection, db: Session, tmp_path: Path, base_url: str
) -> None:
    """Behind an https base URL no cookie (sign-in nonce, session, flash) may travel in clear
    text, without anyone having to remember ``ROSTER_COOKIE_SECURE``; over plain http a secure
    cookie would never come back, so there they are not."""
    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    app = create_app(make_settings(tmp_path, base_url=base_url), bind=connection)
    secure = base_url.startswith("https:")
    with TestClient(app, base_url="https://testserver") as client:
        form = client.get("/login", headers=HTML)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = client.post(
            "/login",
            data={"organization": "acme", "email": person.email, "password": PASSWORD, "csrf_token": csrf[1]},
            headers=HTML,
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        token = client.post(
            "/profile/tokens",
            data={"name": "script", "csrf_token": _session_csrf(client, app)},
            headers=HTML,
            follow_redirects=False,
        )
        assert token.status_code == 303, token.text
        saved = client.post(
            "/profile",
            data={
                "first_name": "Ann",
                "last_name": "Lee",
                "display_name": "Ann Lee",
                "csrf_token": _session_csrf(client, app),
            },
            headers=HTML,
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        set_cookies = [
            *form.headers.get_list("set-cookie"),
            *signed_in.headers.get_list("set-cookie"),
            *token.headers.get_list("set-cookie"),
            *saved.headers.get_list("set-cookie"),
        ]
    names = {c.split("=", 1)[0] for c in set_cookies}
    assert {"roster_anon", "roster_session", "roster_secret", "roster_flash"} <= names, names
    for cookie in set_cookies:
        assert ("; secure" in cookie.lower()) is secure, cookie


def test_an_explicit_cookie_setting_wins_over_the_base_url(tmp_path: Path) -> None:
    assert (
        make_settings(tmp_path, base_url="https://intranet.example.test", cookie_secure=False).cookie_secure
        is False
    )
    assert make_settings(tmp_path, base_url="http://127.0.0.1:8000", cookie_secure=True).cookie_secure is True


def _session_csrf(client: TestClient, app: FastAPI) -> str:
    from roster.accounts.security import csrf_token_for

    return csrf_token_for(client.cookies["roster_session"], app.state.settings.resolved_secret_key)


def test_a_reset_link_past_its_hour_is_410_and_changes_nothing(client: TestClient, db: Session) -> None:
    from datetime import timedelta

    from roster import clock

    o = make_org(db, slug="acme")
    person = make_user(db, o.org)
    [link] = _reset_links(client, db, "acme", person.email or "", 1)
    clock.advance(timedelta(minutes=60, seconds=1))
    answer = client.post(f"{API}/auth/password-reset/confirm", json={"token": link, "password": NEW_PASSWORD})
    assert answer.status_code == 410 and answer.json()["code"] == "token_expired"
    signed_in = client.post(
        f"{API}/auth/login", json={"organization": "acme", "email": person.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
