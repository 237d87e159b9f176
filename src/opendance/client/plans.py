"""What the client does, written once for both the sync and the async client.

A plan is a generator that yields steps — ``Send`` a request, ``Sleep`` a while — and receives
each step's outcome: the response of a ``Send`` (or its ``httpx.TransportError``, thrown into the
generator). Its return value is the plan's result. ``Client`` and ``AsyncClient`` only carry the
steps out, with blocking or awaited I/O, so retries, backoff, deadlines and the reading of
answers cannot drift apart between the two (the sans-I/O style of h11 and httpcore).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import httpx

from opendance.client import responses
from opendance.client.errors import TransportError, VideoNotReady, WaitTimeout
from opendance.client.models import GenerateRequest, Submitted, Task, TaskPage, TaskStatus

T = TypeVar("T")

# Answers after which the same request may well succeed: rate limiting and server trouble.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    stream: bool = False
    """Leave the body unread (downloads); the caller then streams and closes the response."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Plan = Generator[Step, Any, T]


class RequestBuilder(Protocol):
    """``httpx.Client.build_request`` and ``httpx.AsyncClient.build_request`` (they apply the
    client's timeouts, base URL and headers)."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request: ...


def with_headers(build: RequestBuilder, extra: dict[str, str]) -> RequestBuilder:
    """A builder whose requests carry ``extra`` headers (the API key goes on API calls only,
    not as a client-wide default that would follow video URLs to other hosts)."""

    def build_with_headers(
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        return build(method, url, json=json, params=params, headers={**extra, **(headers or {})})

    return build_with_headers


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Requests are retried on connection failures, timeouts, 429 and 5xx. ``generate`` is too: it
    sends an ``Idempotency-Key``, the same on every try, and the server answers a repeat with the
    task it created first, charging nothing again. ``cancel`` is retried only where the server
    certainly did nothing: the connection could not be opened, or the answer was 429 (the rate
    limit is checked before the body is read); a cancel that did happen would answer 409 then.
    """

    attempts: int = 4
    """Tries in all, the first one included; 1 turns retrying off."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled for each further one, up to ``max_backoff``."""
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    """A longer ``Retry-After`` is not waited out: the ``RateLimited`` error is raised instead."""
    jitter: float = 0.25
    """Fraction by which a wait is varied at random, so many clients do not retry in step."""

    def delay(self, retry: int, random: Callable[[], float]) -> float:
        base = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return base * (1 + self.jitter * (2 * random() - 1))

    def retry_after_delay(self, seconds: float, random: Callable[[], float]) -> float:
        # Never earlier than the server asked; a little later at random.
        return seconds * (1 + self.jitter * random())


@dataclass(frozen=True)
class Timing:
    clock: Callable[[], float]
    random: Callable[[], float]


def send(
    request: httpx.Request,
    policy: RetryPolicy,
    timing: Timing,
    *,
    idempotent: bool,
    stream: bool = False,
    deadline: float | None = None,
) -> Plan[httpx.Response]:
    """Send ``request``, retrying as ``policy`` allows; return the last response.

    With a ``deadline`` (a ``timing.clock()`` value), no wait runs past it: the last answer is
    returned, or the last connection failure raised, instead.
    """
    attempt = 0
    while True:
        attempt += 1
        failure: TransportError | None = None
        try:
            response: httpx.Response = yield Send(request, stream)
        except httpx.TransportError as exc:
            failure = _transport_error(request, exc)
            failure.__cause__ = exc
            if not (idempotent or _never_sent(exc)) or attempt >= policy.attempts:
                raise failure from exc
            delay = policy.delay(attempt, timing.random)
        else:
            retry_delay = _retry_delay(response, policy, attempt, timing, idempotent=idempotent)
            if retry_delay is None or attempt >= policy.attempts:
                return response
            delay = retry_delay
        if deadline is not None and timing.clock() + delay > deadline:
            if failure is not None:
                raise failure
            return response
        yield Sleep(delay)


def _never_sent(exc: httpx.TransportError) -> bool:
    """The connection was never opened, so the server cannot have seen the request."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def _retry_delay(
    response: httpx.Response,
    policy: RetryPolicy,
    attempt: int,
    timing: Timing,
    *,
    idempotent: bool,
) -> float | None:
    """Seconds to wait before trying again, or ``None``: this answer is final."""
    if response.status_code not in RETRYABLE_STATUS:
        return None
    if not idempotent and response.status_code != 429:
        return None
    wait = responses.retry_after_seconds(response)
    if wait is None:
        return policy.delay(attempt, timing.random)
    if wait > policy.max_retry_after:
        return None
    return policy.retry_after_delay(wait, timing.random)


def _transport_error(request: httpx.Request, exc: httpx.TransportError) -> TransportError:
    url = str(request.url.copy_with(query=None))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        message = f"cannot connect to {url}: {exc or type(exc).__name__}"
    elif isinstance(exc, httpx.TimeoutException):
        message = f"no answer from {url} in time ({type(exc).__name__})"
    else:
        message = f"the connection to {url} failed: {exc or type(exc).__name__}"
    return TransportError(message, url=url)


def generate(
    build: RequestBuilder,
    body: GenerateRequest,
    policy: RetryPolicy,
    timing: Timing,
    *,
    idempotency_key: str,
) -> Plan[Submitted]:
    """One task, however many tries: every try carries the same ``idempotency_key``, so a
    server that did create the task before its answer was lost answers that task again."""
    headers = {IDEMPOTENCY_HEADER: idempotency_key}
    request = build("POST", "v1/generate", json=body.to_json(), headers=headers)
    response = yield from send(request, policy, timing, idempotent=True)
    return responses.submitted(responses.envelope_data(response))


def cancel(build: RequestBuilder, task_id: str, policy: RetryPolicy, timing: Timing) -> Plan[Task]:
    request = build("POST", "v1/cancel", json={"task_id": task_id})
    response = yield from send(request, policy, timing, idempotent=False)
    return responses.task(responses.envelope_data(response))


def task_page(
    build: RequestBuilder,
    status: TaskStatus | None,
    limit: int,
    after: str | None,
    policy: RetryPolicy,
    timing: Timing,
) -> Plan[TaskPage]:
    """One page of ``GET /v1/tasks``, newest first, from the cursor ``after``."""
    params = {"limit": str(limit)}
    if status is not None:
        params["status"] = status.value
    if after is not None:
        params["after"] = after
    request = build("GET", "v1/tasks", params=params)
    response = yield from send(request, policy, timing, idempotent=True)
    return responses.task_page(responses.envelope_data(response))


def status(
    build: RequestBuilder,
    task_id: str,
    policy: RetryPolicy,
    timing: Timing,
    deadline: float | None = None,
) -> Plan[Task]:
    request = build("GET", "v1/status", params={"task_id": task_id})
    response = yield from send(request, policy, timing, idempotent=True, deadline=deadline)
    return responses.task(responses.envelope_data(response))


@dataclass(frozen=True)
class PollPolicy:
    """How ``wait`` polls: every ``poll`` seconds at first, then ``factor`` times longer each
    time up to ``max_poll``, varied by ``jitter``; never past the deadline."""

    poll: float = 1.0
    max_poll: float = 10.0
    factor: float = 1.5
    jitter: float = 0.1

    def starting_at(self, poll: float) -> PollPolicy:
        return replace(self, poll=poll, max_poll=max(poll, self.max_poll))


def wait(
    build: RequestBuilder,
    task_id: str,
    *,
    timeout: float,
    polling: PollPolicy,
    policy: RetryPolicy,
    timing: Timing,
    on_update: Callable[[Task], None] | None = None,
) -> Plan[Task]:
    """Poll until the task is SUCCESS or FAILED; raise ``WaitTimeout`` at the deadline."""
    deadline = timing.clock() + timeout
    interval = polling.poll
    while True:
        task = yield from status(build, task_id, policy, timing, deadline)
        if on_update is not None:
            on_update(task)
        if task.done:
            return task
        remaining = deadline - timing.clock()
        if remaining <= 0:
            raise WaitTimeout(task, timeout)
        # The last poll lands on the deadline itself rather than after it.
        jittered = interval * (1 + polling.jitter * (2 * timing.random() - 1))
        yield Sleep(max(0.0, min(jittered, remaining)))
        interval = min(polling.max_poll, interval * polling.factor)


def video_url(
    build: RequestBuilder, task_id: str, policy: RetryPolicy, timing: Timing
) -> Plan[str]:
    task = yield from status(build, task_id, policy, timing)
    if not task.succeeded or task.video_url is None:
        raise VideoNotReady(task)
    return task.video_url
