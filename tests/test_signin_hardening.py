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
