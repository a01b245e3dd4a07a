"""Periodic work inside each server process (mail delivery, purge).

Each worker is a daemon thread with its own sessions; on PostgreSQL rows are claimed with
``FOR UPDATE SKIP LOCKED`` so several server processes never do the same work twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fastapi import FastAPI

log = logging.getLogger("roster.workers")


class PeriodicWorker:
    def __init__(self, name: str, interval: float, job: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> PeriodicWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.job()
            except Exception:
                log.exception("worker %s failed; retrying in %ss", self.name, self.interval)


def start_workers(app: FastAPI) -> list[PeriodicWorker]:
    """Start the background jobs that features declare in ``periodic_jobs``."""
    return [PeriodicWorker(name, interval, job).start() for name, interval, job in periodic_jobs(app)]


def periodic_jobs(app: FastAPI) -> list[tuple[str, float, Callable[[], object]]]:
    """(name, seconds between runs, job). Features add their jobs here."""
    from roster.drive.service import drive_jobs
    from roster.lifecycle.deletion_jobs import deletion_jobs
    from roster.lifecycle.jobs import lifecycle_jobs

    jobs: list[tuple[str, float, Callable[[], object]]] = []
    jobs += lifecycle_jobs(app)  # mail delivery, invitation expiry
    jobs += deletion_jobs(app)  # purge of deletions whose restore window has passed
    jobs += drive_jobs(app)  # blobs no file row names any more
    return jobs
