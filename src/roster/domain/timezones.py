"""Time zones: an organization has one, and each person may choose their own. Pages show times in
the viewer's zone and read the dates people type (a task's deadline, the audit log's days) in it;
the database and the API keep UTC.

Names are the IANA database's ("Europe/Berlin"), from the system or the ``tzdata`` package.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from roster.domain import errors

DEFAULT = "UTC"
# Zone names are at most 32 characters today; the column leaves room.
MAX_LENGTH = 64


@functools.cache
def choices() -> tuple[str, ...]:
    """Every zone a person may choose, sorted; the legacy aliases ("US/Eastern") are left out of
    the list but still accepted."""
    regional = (
        n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/", "US/"))
    )
    return (*sorted(regional), DEFAULT)


@functools.cache
def _canonical() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones() | {DEFAULT}}


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """The zone's exact name ("europe/berlin" is Europe/Berlin), or ValidationFailed naming
    ``field``."""
    found = _canonical().get(name.strip().casefold()) if len(name) <= MAX_LENGTH else None
    if found is None:
        raise errors.ValidationFailed(
            f"{name[:MAX_LENGTH]!r} is not a time zone; use a name such as Europe/Berlin or America/New_York.",
            field=field,
        )
    return found


@functools.cache
def zone(name: str | None) -> tzinfo:
    """The zone named, UTC for none (or for a name this system no longer knows)."""
    if not name or name == DEFAULT:
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, OSError):
        return UTC


def local_day(value: str, zone_: tzinfo, *, at: time = time.min) -> datetime | None:
    """A typed day (``YYYY-MM-DD``, as browsers send a date field) at ``at`` in the zone, in UTC;
    None when it is not a date, or is one that UTC cannot hold (9999-12-31 in New York)."""
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=UTC).date()
        return datetime.combine(day, at, tzinfo=zone_).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
