"""Rate limits, as token buckets in process memory: per API key, per account (all its keys
share one bucket, so minting keys does not multiply an account's allowance), and failed
authentications per client address (so invalid keys cannot flood the key lookups).

Each API process limits on its own; behind a load balancer with N replicas a key can get up to
N times the limit. That keeps the hot path free of database writes (a shared limiter is a
scale-out concern)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv6Network
from types import TracebackType

from starlette.requests import Request

from opendance.domain.accounts import KeyOwner
from opendance.errors import InvalidApiKey, RateLimited
from opendance.settings import Settings


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets of ``per_minute`` tokens, refilled evenly over a minute, one per key."""

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
        wait = self.wait(key, now)
        if wait:
            raise RateLimited(retry_after=wait)
        self.take(key, now)

    def wait(self, key: str, now: float) -> int:
        """Whole seconds until ``key`` has a token; 0 when it has one now. Takes nothing."""
        if not self.enabled:
            return 0
        bucket = self._buckets.get(key)
        if bucket is None:  # never used, or full and forgotten
            return 0
        tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
        return 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / self._rate))

    def take(self, key: str, now: float) -> None:
        if not self.enabled:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), updated=now)
        bucket.tokens = min(
            float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate
        )
        bucket.updated = now
        bucket.tokens -= 1.0  # below 1 only after wait() said 0: never below 0 by much
        if len(self._buckets) > 100_000:
            self._forget_full_buckets(now)

    def _forget_full_buckets(self, now: float) -> None:
        full_after = 60.0
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}


class ApiRateLimits:
    """The API's three limits, checked without any database work."""

    def __init__(self, settings: Settings) -> None:
        self.per_key = RateLimiter(settings.rate_limit_per_minute)
        self.per_account = RateLimiter(settings.account_rate_limit_per_minute)
        self.auth_failures = RateLimiter(settings.auth_failures_per_minute)

    def check(self, owner: KeyOwner) -> None:
        """One request of an authenticated caller: a token from its key's bucket and from its
        account's, or neither (a refused request costs nothing)."""
        now = time.monotonic()
        if wait := self.per_key.wait(owner.key_id, now):
            raise RateLimited(retry_after=wait)
        if wait := self.per_account.wait(owner.account_id, now):
            raise RateLimited(
                retry_after=wait,
                message=f"too many requests for this account (all its API keys together); "
                f"retry in {wait} s (Retry-After)",
            )
        self.per_key.take(owner.key_id, now)
        self.per_account.take(owner.account_id, now)

    def authenticating(self, request: Request) -> AuthAttempt:
        """Around the key lookup: ``with limits.authenticating(request): owner = ...``."""
        return AuthAttempt(self.auth_failures, request)


class AuthAttempt:
    """Refuses the request before the key is looked up when its address has failed too often
    lately; counts a failed authentication (``InvalidApiKey``) against the address."""

    __slots__ = ("_address", "_failures")

    def __init__(self, failures: RateLimiter, request: Request) -> None:
        self._failures = failures
        client = request.scope.get("client")
        self._address = _address_key(client[0]) if client else "-"

    def __enter__(self) -> None:
        if wait := self._failures.wait(self._address, time.monotonic()):
            raise RateLimited(
                retry_after=wait,
                message=f"too many failed authentications from this address; retry in {wait} s "
                "(Retry-After)",
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if kind is not None and issubclass(kind, InvalidApiKey):
            self._failures.take(self._address, time.monotonic())


@lru_cache(maxsize=4096)
def _address_key(host: str) -> str:
    """The bucket of a client address. IPv6 by its /64: one subscriber usually holds a whole
    /64 and could otherwise take a fresh address for every few attempts."""
    if ":" not in host:
        return host
    try:
        return str(IPv6Network(f"{host}/64", strict=False))
    except ValueError:
        return host
