"""Sign-in rate limits per account and per client address (the ``limits`` library).

The default storage is in-process memory; set ``ROSTER_RATE_LIMIT_STORAGE=redis://...`` so several
server processes share one count.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from roster.domain import errors
from roster.settings import Settings


class LoginLimiter:
    def __init__(self, settings: Settings) -> None:
        self._storage = storage_from_string(settings.rate_limit_storage)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._per_account: RateLimitItem = parse(settings.login_limit_per_account)
        self._per_address: RateLimitItem = parse(settings.login_limit_per_address)

    def check(self, *, organization: str, email: str, address: str) -> None:
        """Count one attempt; TooManyRequests (429 with Retry-After) when over either limit."""
        account = f"{organization.strip().lower()}:{email.strip().casefold()}"
        for item, key in ((self._per_account, account), (self._per_address, address)):
            if not self._limiter.hit(item, "login", key):
                reset_at, _remaining = self._limiter.get_window_stats(item, "login", key)
                retry = max(1, math.ceil(reset_at - time.time()))
                raise errors.TooManyRequests(
                    f"Too many sign-in attempts; try again in {retry} seconds.", retry_after=retry
                )

    def reset(self) -> None:
        self._storage.reset()
