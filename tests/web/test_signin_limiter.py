"""The failed-sign-in limiter, on a clock of its own."""

from __future__ import annotations

from opendance.web.signin_limiter import WINDOW_SECONDS, SignInLimiter


def test_the_limit_holds_per_name_and_per_address_for_the_window() -> None:
    limiter = SignInLimiter(3)
    for t in range(3):
        assert limiter.retry_after("1.2.3.4", "alice", now=t) is None
        limiter.failed("1.2.3.4", "alice", now=t)
    assert limiter.retry_after("1.2.3.4", "alice", now=3) == WINDOW_SECONDS - 3
    assert limiter.retry_after("5.6.7.8", "Alice", now=3) is not None  # the name, anywhere
    assert limiter.retry_after("1.2.3.4", "bob", now=3) is not None  # the address, any name
    assert limiter.retry_after("5.6.7.8", "bob", now=3) is None
    assert limiter.retry_after("1.2.3.4", "alice", now=WINDOW_SECONDS + 0.5) is None


def test_zero_turns_it_off() -> None:
    limiter = SignInLimiter(0)
    for t in range(100):
        limiter.failed("a", "b", now=t)
    assert limiter.retry_after("a", "b", now=100) is None
