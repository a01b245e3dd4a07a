"""Password hashing and secret tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("roster-timing-equaliser")

TOKEN_PREFIX = "rst"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; spends the same time when there is no hash to check against."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(org_id: uuid.UUID) -> str:
    """A random token that names its organization: ``rst_<org hex>_<secret>``."""
    return f"{TOKEN_PREFIX}_{org_id.hex}_{secrets.token_urlsafe(32)}"


def split_secret(token: str) -> uuid.UUID | None:
    """The organization a token belongs to, or None if it is not one of ours."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[2]) < 20 or len(token) > 200:
        return None
    try:
        return uuid.UUID(hex=parts[1])
    except ValueError:
        return None


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_secret: str, key: str) -> str:
    """The CSRF token bound to one session (HMAC of the session secret)."""
    return hmac.new(key.encode(), b"csrf:" + session_secret.encode(), hashlib.sha256).hexdigest()


def csrf_matches(session_secret: str, key: str, candidate: str | None) -> bool:
    return candidate is not None and hmac.compare_digest(csrf_token_for(session_secret, key), candidate)
