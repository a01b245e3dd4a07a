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

# The longest wait between runs of a job that keeps failing (the database away, say).
MAX_BACKOFF = 300.0


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

    def delay_after(self, failures: int) -> float:
        """Seconds until the next run after ``failures`` failures in a row: the interval, doubled
        for each failure, at most ``MAX_BACKOFF`` (or the interval, if that is longer)."""
        if failures == 0:
            return self.interval
        return min(self.interval * 2.0**failures, max(MAX_BACKOFF, self.interval))

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(self.delay_after(failures)):
            try:
                self.job()
            except Exception as exc:
                failures += 1
                retry = self.delay_after(failures)
                if failures == 1:  # the whole story once; then one line per failure
                    log.exception("worker %s failed; retrying in %.0fs", self.name, retry)
                else:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    log.warning(
                        "worker %s failed again (%d in a row): %s; retrying in %.0fs",
                        self.name,
                        failures,
                        reason,
                        retry,
                    )
            else:
                if failures:
                    log.info("worker %s works again after %d failures", self.name, failures)
                failures = 0


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
