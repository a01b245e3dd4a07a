"""Plans and their seat limits."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    PLUS = "plus"
    STANDARD = "standard"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


SEAT_LIMITS: dict[Plan, int | None] = {
    Plan.FREE: 12,
    Plan.PLUS: 24,
    Plan.STANDARD: 50,
    Plan.PROFESSIONAL: 100,
    Plan.ENTERPRISE: None,
}


def seat_limit(plan: str) -> int | None:
    """Seats allowed on a plan; None means unlimited."""
    return SEAT_LIMITS[Plan(plan)]
