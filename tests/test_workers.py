"""The periodic workers (mail delivery, purge): a job that keeps failing backs off and says so
once in full, then in one line per failure."""

from __future__ import annotations

import logging
import threading

import pytest

from roster.workers import MAX_BACKOFF, PeriodicWorker


def test_a_failing_job_backs_off_and_logs_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0
    done = threading.Event()

    def job() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError(f'database "gone" does not exist (try {runs})\nmore detail')
        done.set()

    worker = PeriodicWorker("test-job", 0.01, job)
    with caplog.at_level(logging.INFO, logger="roster.workers"):
        worker.start()
        assert done.wait(timeout=10)
        worker.stop()
    records = [r for r in caplog.records if r.name == "roster.workers"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.WARNING, logging.WARNING, logging.INFO]
    assert records[0].exc_info is not None  # the traceback, once
    assert all(r.exc_info is None for r in records[1:])
    assert 'failed again (2 in a row): database "gone" does not exist (try 2); retrying in 0s' in (
        records[1].getMessage()
    )
    assert records[-1].getMessage() == "worker test-job works again after 3 failures"


def test_the_wait_doubles_up_to_a_limit() -> None:
    worker = PeriodicWorker("mail", 5.0, lambda: None)
    assert [worker.delay_after(n) for n in range(4)] == [5.0, 10.0, 20.0, 40.0]
    assert worker.delay_after(50) == MAX_BACKOFF
    slow = PeriodicWorker("purge", 3600.0, lambda: None)
    assert slow.delay_after(3) == 3600.0  # never more often than its own interval
