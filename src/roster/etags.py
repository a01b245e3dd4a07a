"""Entity tags (RFC 9110 §8.8.3, §13.1): the comparisons conditional requests make."""

from __future__ import annotations


def listed(header: str) -> list[str]:
    """The entity tags an ``If-Match`` or ``If-None-Match`` header lists (or ``*``)."""
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def weak_equal(a: str, b: str) -> bool:
    """The weak comparison: equal opaque tags, whether or not either is marked weak (``W/``)."""
    return a.removeprefix("W/") == b.removeprefix("W/")


def none_match(header: str | None, current: str) -> bool:
    """Whether ``If-None-Match`` names the current representation, so a GET answers 304: ``*``,
    or any listed tag equal to ``current`` by the weak comparison (RFC 9110 §13.1.2)."""
    if not header:
        return False
    tags = listed(header)
    return "*" in tags or any(weak_equal(tag, current) for tag in tags)
