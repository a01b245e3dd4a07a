"""The one source of the current time, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """The current time in UTC (timezone-aware), shifted by any test offset."""
    return datetime.now(UTC) + _offset


def to_utc(moment: datetime) -> datetime:
    """The moment in UTC (one without a zone is read as UTC); ValueError when it falls outside
    the years 1 to 9999 there (``9999-12-31T23:59-05:00``), which no datetime can hold."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1 to 9999 in UTC.") from None


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests only)."""
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = timedelta(0)
