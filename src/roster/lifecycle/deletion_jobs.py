"""The server's periodic purge: ends restore windows (of deleted people and of the trash) that have passed."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from roster.db.engine import transaction
from roster.lifecycle.deletion import purge_expired
from roster.trash.service import purge_expired_trash

PURGE_INTERVAL_SECONDS = 600.0
PURGE_BATCH = 20


def run_purge(app: FastAPI) -> int:
    """Purge the deletions, then the trash items, whose window has passed, a batch per
    transaction; returns how many.

    Several server processes may run this at once: on PostgreSQL each batch claims its operations
    with FOR UPDATE SKIP LOCKED, so no deletion is purged twice.
    """
    total = 0
    while True:
        with transaction(app.state.sessions["write"]) as session:
            purged = purge_expired(session, limit=PURGE_BATCH)
        total += purged
        if purged < PURGE_BATCH:
            break
    while True:
        with transaction(app.state.sessions["write"]) as session:
            purged = purge_expired_trash(session, limit=PURGE_BATCH)
        total += purged
        if purged < PURGE_BATCH:
            return total


def deletion_jobs(app: FastAPI) -> list[tuple[str, float, Callable[[], object]]]:
    """(name, interval, job) for workers.periodic_jobs."""
    return [("purge", PURGE_INTERVAL_SECONDS, lambda: run_purge(app))]
