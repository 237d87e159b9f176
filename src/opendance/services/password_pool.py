"""The threads Argon2 runs on: a few of their own, with a bound on the work waiting for them.

A hash costs tens of milliseconds of CPU and 64 MiB on purpose. On the loop's default executor a
flood of sign-ins would take every thread the rest of the server shares (file reads, uploads) and
queue without end; here it takes at most ``THREADS`` cores, and once ``THREADS + WAITING`` hashes
are running or waiting, the next one is refused at once (``PasswordsBusy``) instead of queued.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TypeVar

T = TypeVar("T")

THREADS = 2
WAITING = 14
THREAD_PREFIX = "opendance-passwords"


class PasswordsBusy(Exception):
    """Every slot of the pool is taken: try again shortly."""


class PasswordPool:
    def __init__(self, threads: int = THREADS, waiting: int = WAITING) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=THREAD_PREFIX)
        # released when the hash ends, not when its caller stops waiting: a cancelled request
        # leaves its hash running, and that hash still holds a thread
        self._slots = threading.BoundedSemaphore(threads + waiting)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self._slots.acquire(blocking=False):
            raise PasswordsBusy()
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: Future[T]) -> None:
        self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@cache
def password_pool() -> PasswordPool:
    """The process's pool (made on first use)."""
    return PasswordPool()
