"""Sign-in rate limits per account and per client address (the ``limits`` library).

A sign-in counts against the limits only when it fails (and so does a wrong current password
given to change it, which a stolen session could otherwise guess at leisure): people who share an office's address,
or sign in on several devices, are never held up by their own successful sign-ins, while
guessing one account's password (the per-account limit) or trying one password on many
accounts (the per-address limit) is stopped as before. A successful sign-in clears its
account's count, as mature products reset their failed-attempt counters. Requests for a
password reset mail count every time.

The default storage is in-process memory; set ``ROSTER_RATE_LIMIT_STORAGE=redis://...`` so several
server processes share one count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from roster.accounts.service import email_key
from roster.domain import errors
from roster.settings import Settings

_NAMESPACE = "login"


def client_address(request: Request) -> str:
    """The address a request came from, as the per-address limit counts it."""
    return request.client.host if request.client else "unknown"


class LoginLimiter:
    def __init__(self, settings: Settings) -> None:
        self._storage = storage_from_string(settings.rate_limit_storage)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._per_account: RateLimitItem = parse(settings.login_limit_per_account)
        self._per_address: RateLimitItem = parse(settings.login_limit_per_address)

    @staticmethod
    def _account(organization: str, email: str) -> str:
        # Folded as sign-in looks the account up (``email_key``): every way of writing one address
        # that finds the account counts against that account, fullwidth letters and all.
        return f"{organization.strip().lower()}:{email_key(email.strip())}"

    def _limits(self, organization: str, email: str, address: str) -> list[tuple[RateLimitItem, str]]:
        return [(self._per_account, self._account(organization, email)), (self._per_address, address)]

    def _refuse(self, item: RateLimitItem, key: str) -> errors.TooManyRequests:
        reset_at, _remaining = self._limiter.get_window_stats(item, _NAMESPACE, key)
        retry = max(1, math.ceil(reset_at - time.time()))
        return errors.TooManyRequests(
            f"Too many sign-in attempts; try again in {retry} seconds.", retry_after=retry
        )

    def check(self, *, organization: str, email: str, address: str) -> None:
        """Before a sign-in: TooManyRequests (429 with Retry-After) when the account or the
        address has used up its failed attempts. Counts nothing by itself."""
        for item, key in self._limits(organization, email, address):
            if not self._limiter.test(item, _NAMESPACE, key):
                raise self._refuse(item, key)

    def failed(self, *, organization: str, email: str, address: str) -> None:
        """Count a failed sign-in against the account and the address."""
        for item, key in self._limits(organization, email, address):
            self._limiter.hit(item, _NAMESPACE, key)

    def succeeded(self, *, organization: str, email: str) -> None:
        """A sign-in succeeded: the account's failed attempts are forgotten (the address's stay)."""
        self._limiter.clear(self._per_account, _NAMESPACE, self._account(organization, email))

    @contextmanager
    def attempt(self, *, organization: str, email: str, address: str) -> Iterator[None]:
        """One sign-in, or a password asked again, checked in the block: refused up front when
        over a limit; counted if the block raises ``InvalidCredentials`` or ``WrongPassword``;
        the account's count cleared if it succeeds."""
        self.check(organization=organization, email=email, address=address)
        try:
            yield
        except (errors.InvalidCredentials, errors.WrongPassword):
            self.failed(organization=organization, email=email, address=address)
            raise
        self.succeeded(organization=organization, email=email)

    def hit(self, *, organization: str, email: str, address: str) -> None:
        """Count one request (a password reset mail) against both limits; TooManyRequests when
        over either."""
        for item, key in self._limits(organization, email, address):
            if not self._limiter.hit(item, _NAMESPACE, key):
                raise self._refuse(item, key)

    def reset(self) -> None:
        self._storage.reset()
