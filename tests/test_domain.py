"""Pure rules, no database."""

from __future__ import annotations

import uuid

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from roster.accounts.security import hash_secret, new_secret, split_secret
from roster.accounts.service import normalize_email
from roster.domain import errors
from roster.domain.plans import Plan, seat_limit
from roster.domain.users import password_problem
from roster.ids import new_id


def test_plans_have_the_documented_seat_limits() -> None:
    assert [seat_limit(p) for p in Plan] == [12, 24, 50, 100, None]


def test_passwords_must_be_long_and_varied() -> None:
    assert password_problem("short") is not None
    assert password_problem("aaaaaaaaaaaa") is not None
    assert password_problem("a-long-varied-password") is None


def test_passwords_that_are_easy_to_guess_are_refused_with_the_reason() -> None:
    # Long and varied enough for the rules above, yet among the first an attacker tries.
    for common in ("1234567890", "qwertyuiop", "password123", "Password2024", "abcdefghij", "iloveyou12"):
        problem = password_problem(common)
        assert problem is not None and problem.startswith("Choose a password that is harder to guess."), (
            common
        )
    assert "common password" in (password_problem("1234567890") or "")
    # Built on the person's own name or address, or their organization's.
    context = ("john.smith@acme.test", "John", "Smith", "John Smith", "Acme Ltd", "acme")
    for own in ("john.smith2026", "acme-acme-1"):
        assert password_problem(own) is None, own  # strong enough to a guesser who knows nobody
        problem = password_problem(own, context)
        assert problem is not None and "harder to guess" in problem, own
    assert "built on your name" in (password_problem("john.smith2026", context) or "")
    # Strong ones pass, with or without the context, and a long one is judged by its start.
    for strong in ("a-long-varied-password", "S3cure-pass!", "correct-horse-battery", "Tr0ub4dor&3-x"):
        assert password_problem(strong, context) is None, strong
    assert password_problem("correct-horse-battery" + "x" * 1000) is None
    assert password_problem("1234567890" * 100) is not None


def test_ids_are_version_7_and_increase_with_time() -> None:
    ids = [new_id() for _ in range(100)]
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == 100
    assert ids[0].bytes[:6] <= ids[-1].bytes[:6]


def test_secrets_carry_their_organization_and_are_hashed() -> None:
    org = uuid.uuid4()
    secret = new_secret(org)
    assert split_secret(secret) == org
    assert split_secret("nonsense") is None
    assert len(hash_secret(secret)) == 64 and hash_secret(secret) != secret


def test_control_characters_are_exactly_unicodes_category_cc() -> None:
    import sys
    import unicodedata

    from roster.domain.text import has_control_characters

    found = [c for c in range(sys.maxunicode + 1) if has_control_characters(chr(c))]
    assert found == [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cc"]
    assert has_control_characters("name\x00") and not has_control_characters("Zoë Ørsted \u202e")


def test_field_refusals_raise_the_first_with_every_field_listed() -> None:
    def refuse(error: errors.RosterError) -> str:
        raise error

    refusals = errors.FieldRefusals()
    assert refusals.check(str.upper, "kept") == "KEPT"
    refusals.raise_any()  # nothing refused: nothing raised
    assert refusals.check(refuse, errors.EmptyText("Write a title.", field="title")) is None
    assert refusals.check(refuse, errors.InactiveUser("Gone.", field="responsible_id", user_id="u1")) is None
    with pytest.raises(errors.EmptyText) as raised:
        refusals.raise_any()
    assert raised.value.extra == {
        "field": "title",
        "errors": [
            {"field": "title", "code": "empty_text", "message": "Write a title."},
            {"field": "responsible_id", "code": "inactive_user", "message": "Gone.", "user_id": "u1"},
        ],
    }
    # A refusal about no field is not one of the form's: it is raised at once.
    with pytest.raises(errors.Forbidden):
        errors.FieldRefusals().check(refuse, errors.Forbidden("No."))


def _validator_says(address: str) -> str:
    """What email-validator makes of an address: its normalized form, or its refusal."""
    try:
        return str(validate_email(address, check_deliverability=False, test_environment=True).normalized)
    except EmailNotValidError as exc:
        return f"refused: {exc}"


def _roster_says(address: str) -> str:
    try:
        return normalize_email(address)
    except errors.InvalidEmail as exc:
        return f"refused: {exc.detail}"


_LOCAL_CHARACTERS = "aZ09._-+!#$%&'*/=?^`{|}~\"(),:;<>[]\\ @éß"
_LONG_DOMAIN = ("a" * 63 + ".") * 3 + "a" * 44 + ".com"  # 240 characters
_LONG_IDNA_DOMAIN = "xn--bcher-kva." + ("a" * 63 + ".") * 3 + "a" * 30 + ".com"  # 240, "bücher" in Unicode


_DOMAINS = [
    "example.com",
    "Example.COM",
    "bench.test",
    "sub.example.co.uk",
    "xn--bcher-kva.example",
    "bücher.example",
    "localhost",
    "host.local",
    "example.invalid",
    "example",
    "-bad.example",
    "bad-.example",
    "a..example.com",
    "example.com.",
    ".example.com",
    "123.456",
    "[127.0.0.1]",
    "exa mple.com",
    "exa_mple.com",
    ("a" * 63 + ".") * 3 + "a" * 60 + ".com",
    ("a" * 63 + ".") * 3 + "a" * 57 + ".com",
    _LONG_DOMAIN,  # 13 characters before the @-sign fit, 14 do not
    _LONG_IDNA_DOMAIN,
    "a" * 64 + ".com",
    "",
]


@pytest.mark.parametrize(
    "address",
    [
        "a" * 13 + "@" + _LONG_DOMAIN,  # 254 characters: the most an address may have
        "a" * 14 + "@" + _LONG_DOMAIN,
        "a" * 13 + "@" + _LONG_IDNA_DOMAIN,
        "a" * 14 + "@" + _LONG_IDNA_DOMAIN,  # too long as sent, though shorter once normalized
        "first.last@xn--bcher-kva.example",
        "Postmaster@Example.COM",
        "first..last@example.com",
        "first.last@example.com.",
        "first.last@localhost",
        "José@example.com",
    ],
)
def test_addresses_at_email_validators_edges_are_answered_as_it_answers_them(address: str) -> None:
    assert _roster_says(address) == _validator_says(address)


@settings(max_examples=1500, deadline=None)
@given(
    local=st.text(alphabet=_LOCAL_CHARACTERS, min_size=0, max_size=70)
    | st.sampled_from(["postmaster", "Abuse", "a" * 13, "a" * 14, "a" * 64, "a" * 65, "first.last", "x"]),
    domain=st.sampled_from(_DOMAINS) | st.text(alphabet="aZ09.-_é[]", min_size=0, max_size=20),
)
def test_an_address_is_normalized_or_refused_exactly_as_email_validator_does(local: str, domain: str) -> None:
    # normalize_email checks a plain address's domain once per domain; what it answers must be
    # what email-validator answers for the whole address, refusals (and their words) included.
    address = f"{local}@{domain}"
    assert _roster_says(address) == _validator_says(address.strip())
