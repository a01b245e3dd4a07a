"""Blocking work (a request's database transaction) run off the event loop.

``run_sync`` hands a call to a thread pool of its own through asyncio's executor, in a copy of the
caller's context variables, as Starlette's ``run_in_threadpool`` does through anyio. The hand-over
is the same; anyio's costs about 40 microseconds more of CPU per call here (its capacity limiter
and cancel scopes), which a quick read pays once or twice: see bench/NOTES.md.

Unlike anyio's, a cancelled caller does not wait for the call to finish. Every call handed over
here ends its own transaction on the worker thread (committed or rolled back), so nothing is
left open if its request goes away.

``run_writing`` hands a call to the process's one writer thread instead. SQLite runs one writing
transaction at a time, whatever the number of threads: a second writer thread of the same
process can only wait for the lock (at the writer gate, or in SQLite's busy handler). Queued on
the event loop instead, waiting writes hold no thread; with eight connections, SCIM creates went
about 20% faster with one worker process and 6-8% with two (measured before the writer gate
existed: bench/NOTES.md).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# As many threads as anyio's default limiter allows: at most this many requests hold a database
# connection (or wait for one) at a time.
MAX_THREADS = 40

_executor = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="roster-sync")
# SQLite's writing transactions of this process, one after another (``run_writing``).
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-writer")


async def run_sync(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on a worker thread, awaited."""
    context = contextvars.copy_context()
    call = partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor, call)


_writing = 0  # calls handed to the writer thread and not yet finished


async def run_writing(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``run_sync`` on the process's one writer thread, for a transaction that writes to SQLite.
    Nothing run here may wait for another call run here."""
    global _writing
    context = contextvars.copy_context()
    call = partial(context.run, fn, *args, **kwargs)
    _writing += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_writer, call)
    finally:
        _writing -= 1


def writer_thread_is_busy() -> bool:
    """Whether the writer thread has a call to finish (or queued): a write done elsewhere in the
    meantime would find the writer gate taken, and would go ahead of writes that came first."""
    return _writing > 0
