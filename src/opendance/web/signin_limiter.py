"""Sign-in attempts, counted per client address and per account name over 15 minutes.

Both counts matter: per address stops one client from trying many accounts, per name stops many
clients from trying one account. In process memory like the API's rate limiter (per process).

An attempt counts the moment it arrives, before its password is hashed, and stays counted unless
the password turns out right. Counting it only once the hash had failed let every attempt that
arrived during the hashing of the earlier ones through: a burst of 100 had 72 passwords checked.
Attempts beyond a few at once for one address or name are refused as well (and still count), so a
burst cannot hold more than a few of the hashing threads.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 15 * 60
IN_FLIGHT_PER_ADDRESS = 4
IN_FLIGHT_PER_NAME = 2
BUSY_RETRY_SECONDS = 1


@dataclass(frozen=True)
class Refused:
    """No password is checked: too many attempts in the window (``busy`` False), or too many
    being checked at this moment (``busy`` True)."""

    retry_after: int
    busy: bool


class Attempt:
    """An admitted attempt; ``end`` it once its password was checked (or could not be)."""

    def __init__(self, limiter: SignInLimiter, keys: tuple[str, str], at: float | None) -> None:
        self._limiter = limiter
        self._keys = keys
        self._at = at  # when it was counted; None when the limit is off
        self._ended = False

    def end(self, *, succeeded: bool) -> None:
        if self._ended:
            return
        self._ended = True
        self._limiter._finish(self._keys, self._at if succeeded else None)


class SignInLimiter:
    def __init__(self, attempts_per_window: int) -> None:
        self.limit = attempts_per_window
        self._attempts: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}

    def begin(self, address: str, name: str, now: float | None = None) -> Attempt | Refused:
        now = time.monotonic() if now is None else now
        keys = _keys(address, name)
        at: float | None = None
        if self.limit > 0:
            longest = max(self._wait(key, now) for key in keys)
            if longest > 0:
                # not counted: refusals must not push the end of the window further out
                return Refused(retry_after=math.ceil(longest), busy=False)
            if len(self._attempts) > 100_000:
                self._attempts.clear()  # a flood of names; forgetting is safer than growing
            for key in keys:
                self._attempts.setdefault(key, deque()).append(now)
            at = now
        caps = (IN_FLIGHT_PER_ADDRESS, IN_FLIGHT_PER_NAME)
        if any(self._in_flight.get(key, 0) >= cap for key, cap in zip(keys, caps, strict=True)):
            return Refused(retry_after=BUSY_RETRY_SECONDS, busy=True)
        for key in keys:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return Attempt(self, keys, at)

    def _finish(self, keys: tuple[str, str], forgive: float | None) -> None:
        for key in keys:
            left = self._in_flight.get(key, 0) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
            attempts = self._attempts.get(key)
            if forgive is not None and attempts is not None and forgive in attempts:
                attempts.remove(forgive)  # the right password: that attempt was no failure

    def _wait(self, key: str, now: float) -> float:
        attempts = self._attempts.get(key)
        if not attempts:
            return 0.0
        while attempts and attempts[0] <= now - WINDOW_SECONDS:
            attempts.popleft()
        if len(attempts) < self.limit:
            return 0.0
        return attempts[-self.limit] + WINDOW_SECONDS - now


def _keys(address: str, name: str) -> tuple[str, str]:
    return f"addr:{address}", f"name:{name.strip().lower()}"
