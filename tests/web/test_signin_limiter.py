"""The sign-in limiter, on a clock of its own."""

from __future__ import annotations

from opendance.web.signin_limiter import (
    IN_FLIGHT_PER_ADDRESS,
    IN_FLIGHT_PER_NAME,
    WINDOW_SECONDS,
    Attempt,
    Refused,
    SignInLimiter,
)


def _admitted(answer: Attempt | Refused) -> Attempt:
    assert isinstance(answer, Attempt), answer
    return answer


def test_the_limit_holds_per_name_and_per_address_for_the_window() -> None:
    limiter = SignInLimiter(3)
    for t in range(3):
        _admitted(limiter.begin("1.2.3.4", "alice", now=t)).end(succeeded=False)
    refused = limiter.begin("1.2.3.4", "alice", now=3)
    assert refused == Refused(retry_after=WINDOW_SECONDS - 3, busy=False)
    assert isinstance(limiter.begin("5.6.7.8", "Alice", now=3), Refused)  # the name, anywhere
    assert isinstance(limiter.begin("1.2.3.4", "bob", now=3), Refused)  # the address, any name
    _admitted(limiter.begin("5.6.7.8", "bob", now=3)).end(succeeded=False)
    _admitted(limiter.begin("1.2.3.4", "alice", now=WINDOW_SECONDS + 0.5))


def test_an_attempt_counts_before_its_password_is_checked() -> None:
    limiter = SignInLimiter(3)
    # three at once, none answered yet: a fourth is refused without waiting for their hashes
    pending = [_admitted(limiter.begin(f"10.0.0.{n}", "alice", now=0)) for n in range(2)]
    pending.append(_admitted(limiter.begin("10.0.0.9", "bob", now=0)))
    pending[0].end(succeeded=False)
    pending.append(_admitted(limiter.begin("10.0.0.3", "alice", now=0)))
    assert isinstance(limiter.begin("10.0.0.4", "alice", now=0), Refused)
    for attempt in pending:
        attempt.end(succeeded=False)


def test_the_right_password_takes_its_own_attempt_back() -> None:
    limiter = SignInLimiter(2)
    _admitted(limiter.begin("a", "alice", now=0)).end(succeeded=False)
    for t in range(1, 10):
        _admitted(limiter.begin("a", "alice", now=t)).end(succeeded=True)
    _admitted(limiter.begin("a", "alice", now=10)).end(succeeded=False)
    assert isinstance(limiter.begin("a", "alice", now=11), Refused)


def test_only_a_few_attempts_run_at_once_and_those_refused_still_count() -> None:
    limiter = SignInLimiter(IN_FLIGHT_PER_NAME + 2)
    running = [_admitted(limiter.begin("a", "alice", now=0)) for _ in range(IN_FLIGHT_PER_NAME)]
    assert limiter.begin("b", "alice", now=0) == Refused(retry_after=1, busy=True)
    for attempt in running:
        attempt.end(succeeded=False)
    _admitted(limiter.begin("b", "alice", now=0)).end(succeeded=False)
    # the refused attempt counted: the window is full
    assert limiter.begin("c", "alice", now=0) == Refused(retry_after=WINDOW_SECONDS, busy=False)

    per_address = SignInLimiter(100)
    names = [_admitted(per_address.begin("c", f"u{n}", 0)) for n in range(IN_FLIGHT_PER_ADDRESS)]
    assert per_address.begin("c", "someone else", now=0) == Refused(retry_after=1, busy=True)
    names[0].end(succeeded=True)
    _admitted(per_address.begin("c", "someone else", now=0))


def test_zero_turns_the_limit_off_but_not_the_bound_on_attempts_at_once() -> None:
    limiter = SignInLimiter(0)
    for t in range(100):
        _admitted(limiter.begin("a", "b", now=t)).end(succeeded=False)
    running = [_admitted(limiter.begin("a", "b", now=100)) for _ in range(IN_FLIGHT_PER_NAME)]
    assert isinstance(limiter.begin("a", "b", now=100), Refused)
    for attempt in running:
        attempt.end(succeeded=False)
