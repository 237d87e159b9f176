"""Failed sign-ins, counted per client address and per account name over 15 minutes.

Both counts matter: per address stops one client from trying many accounts, per name stops many
clients from trying one account. In process memory like the API's rate limiter (per process).
"""

from __future__ import annotations

import math
import time
from collections import deque

WINDOW_SECONDS = 15 * 60


class SignInLimiter:
    def __init__(self, failures_per_window: int) -> None:
        self.limit = failures_per_window
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str, name: str, now: float | None = None) -> int | None:
        """Seconds until another attempt is allowed, or None if it is allowed now."""
        if self.limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        waits = [self._wait(key, now) for key in _keys(address, name)]
        longest = max(waits)
        return math.ceil(longest) if longest > 0 else None

    def failed(self, address: str, name: str, now: float | None = None) -> None:
        if self.limit <= 0:
            return
        now = time.monotonic() if now is None else now
        if len(self._failures) > 100_000:
            self._failures.clear()  # a flood of names; forgetting is safer than growing
        for key in _keys(address, name):
            self._failures.setdefault(key, deque()).append(now)

    def _wait(self, key: str, now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        if len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + WINDOW_SECONDS - now


def _keys(address: str, name: str) -> tuple[str, str]:
    return f"addr:{address}", f"name:{name.strip().lower()}"
