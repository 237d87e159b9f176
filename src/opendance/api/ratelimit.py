"""A per-key token bucket, in process memory.

Each API process limits on its own; behind a load balancer with N replicas a key can get up to
N times the limit. That keeps the hot path free of database writes (a shared limiter is a
scale-out concern)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from opendance.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, key: str, now: float | None = None) -> None:
        """Take one token for ``key`` or raise ``RateLimited`` with the seconds to wait."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), updated=now)
        bucket.tokens = min(
            float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate
        )
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise RateLimited(retry_after=max(1, math.ceil((1.0 - bucket.tokens) / self._rate)))
        bucket.tokens -= 1.0
        if len(self._buckets) > 100_000:
            self._forget_full_buckets(now)

    def _forget_full_buckets(self, now: float) -> None:
        full_after = 60.0
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}
