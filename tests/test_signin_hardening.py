"""Sign-in does not reveal whether an account exists, and brute force is slowed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from roster.accounts import security
from roster.app import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, make_org, make_user


class CountingHasher:
    """Wraps the real argon2 hasher and counts verifications (the costly step timing would show)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls = 0

    def verify(self, hash_: str, password: str) -> bool:
        self.calls += 1
        return self.real.verify(hash_, password)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_every_sign_in_path_costs_exactly_one_password_verification(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = make_org(db, slug="acme")
    dismissed = make_user(db, o.org, dismissed=True)
    counting = CountingHasher(security._hasher)
    monkeypatch.setattr(security, "_hasher", counting)
    attempts = {
        "right password": ("acme", "admin@acme.test", PASSWORD),
        "wrong password": ("acme", "admin@acme.test", "wrong-password-9"),
        "unknown email": ("acme", "ghost@acme.test", PASSWORD),
        "unknown organization": ("ghost-org", "admin@acme.test", PASSWORD),
        "dismissed account": ("acme", dismissed.email, PASSWORD),
    }
    for label, (org, email, password) in attempts.items():
        before = counting.calls
        client.post("/api/v1/auth/login", json={"organization": org, "email": email, "password": password})
        assert counting.calls - before == 1, f"{label}: {counting.calls - before} verifications"


def test_the_per_address_limit_stops_spraying_across_many_accounts(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, login_limit_per_address="5/minute"), bind=connection)
    make_org(db, slug="acme")
    with TestClient(app) as client:
        codes = [
            client.post(
                "/api/v1/auth/login",
                json={"organization": "acme", "email": f"user{i}@acme.test", "password": "guess-guess-1"},
            ).status_code
            for i in range(8)
        ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 3


def _sign_in(client: TestClient, email: str, password: str) -> int:
    answer = client.post(
        "/api/v1/auth/login", json={"organization": "acme", "email": email, "password": password}
    )
    return answer.status_code


def test_successful_sign_ins_never_count_against_the_limits(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # An office behind one address, or one person on several devices, signs in again and again.
    settings = make_settings(tmp_path, login_limit_per_account="3/minute", login_limit_per_address="5/minute")
    app = create_app(settings, bind=connection)
    o = make_org(db, slug="acme")
    colleague = make_user(db, o.org)
    with TestClient(app) as client:
        codes = [_sign_in(client, email, PASSWORD) for email in [o.admin.email, colleague.email] * 4]
    assert codes == [200] * 8


def test_a_successful_sign_in_clears_its_accounts_failed_attempts(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, login_limit_per_account="3/minute"), bind=connection)
    o = make_org(db, slug="acme")
    with TestClient(app) as client:
        first = [_sign_in(client, o.admin.email, "wrong-password-1") for _ in range(2)]
        assert _sign_in(client, o.admin.email, PASSWORD) == 200
        # The count starts again: three more failures are allowed, the fourth attempt is not.
        after = [_sign_in(client, o.admin.email, "wrong-password-1") for _ in range(3)]
        refused = _sign_in(client, o.admin.email, PASSWORD)
    assert first == [401, 401] and after == [401, 401, 401]
    assert refused == 429  # even with the right password: the account's failures are used up


def test_failed_sign_ins_on_the_web_page_count_and_then_are_refused(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import re

    app = create_app(make_settings(tmp_path, login_limit_per_account="2/minute"), bind=connection)
    o = make_org(db, slug="acme")
    html = {"accept": "text/html"}
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login", headers=html).text)
        assert token

        def attempt(password: str) -> int:
            form = {"organization": "acme", "email": o.admin.email, "password": password}
            answer = client.post(
                "/login", data={**form, "csrf_token": token.group(1)}, headers=html, follow_redirects=False
            )
            return answer.status_code

        assert [attempt(PASSWORD), attempt(PASSWORD)] == [303, 303]
        assert [attempt("wrong-password-1"), attempt("wrong-password-1")] == [401, 401]
        assert attempt(PASSWORD) == 429


def test_every_password_reset_request_counts(connection: Connection, db: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, login_limit_per_account="2/minute"), bind=connection)
    o = make_org(db, slug="acme")
    with TestClient(app) as client:
        codes = [
            client.post(
                "/api/v1/auth/password-reset", json={"organization": "acme", "email": o.admin.email}
            ).status_code
            for _ in range(3)
        ]
    assert codes == [202, 202, 429]


def test_a_wrong_current_password_is_a_422_that_counts_as_a_failed_sign_in(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import auth

    app = create_app(make_settings(tmp_path, login_limit_per_account="2/minute"), bind=connection)
    o = make_org(db, slug="acme")
    headers = auth(db, o.admin)
    change = {"current_password": "not-my-password-1", "new_password": "A-new-passw0rd!"}
    with TestClient(app) as client:
        wrong = client.post("/api/v1/me/password", json=change, headers=headers)
        # The session is fine (a 401 would tell clients to sign in again): the field is wrong.
        assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_password"
        assert wrong.json()["field"] == "current_password"
        assert client.post("/api/v1/me/password", json=change, headers=headers).status_code == 422
        # Guessing through a stolen session stops where guessing at sign-in does.
        right = {**change, "current_password": PASSWORD}
        assert client.post("/api/v1/me/password", json=right, headers=headers).status_code == 429
        assert _sign_in(client, o.admin.email, PASSWORD) == 429


def _fullwidth(text: str, mask: int) -> str:
    """``text`` with the letters picked by ``mask``'s bits in their fullwidth forms (FF41-FF5A),
    which NFKC folds back: each mask writes the same address differently."""
    return "".join(
        chr(ord(ch) + 0xFEE0) if (mask >> i) & 1 and "a" <= ch <= "z" else ch for i, ch in enumerate(text)
    )


def test_every_way_of_writing_an_address_counts_against_the_one_account_it_finds(
    connection: Connection, db: Session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Sign-in finds the account by the NFKC-folded address, so the per-account limit must count
    by it too: otherwise each rewriting of the address (fullwidth letters, case) is a fresh
    allowance of guesses, and a locked account still opens under another spelling."""
    app = create_app(
        make_settings(tmp_path, login_limit_per_account="3/minute", login_limit_per_address="100/minute"),
        bind=connection,
    )
    make_org(db, slug="acme")
    address = "admin@acme.test"
    with TestClient(app) as client:
        assert _sign_in(client, _fullwidth(address, 0b11), PASSWORD) == 200  # it finds the account
        guesses = [_sign_in(client, _fullwidth(address, mask), "guess-guess-1") for mask in range(1, 6)]
        assert guesses == [401, 401, 401, 429, 429]
        assert _sign_in(client, _fullwidth(address, 0b1000001), PASSWORD) == 429
        assert _sign_in(client, address.upper(), PASSWORD) == 429
        assert _sign_in(client, address, PASSWORD) == 429
