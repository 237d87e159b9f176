"""Submitting a task upstream and waiting for its video, within one deadline.

Retries follow one rule: send again only what certainly was not accepted, because every
accepted POST /v1/generate is charged by the upstream.

- submit: retried when no connection could be made (nothing was sent; a few attempts with
  backoff, then "unreachable") and on 429 (refused before it was accepted; waited out per
  Retry-After while the deadline allows). A 5xx, a broken connection or a read timeout after
  the request went out is ambiguous: the upstream may have created (and charged) the task, so
  it is not sent again; the task fails and our client is refunded.
- status polls are reads: every transient failure (no connection, 5xx, 429, broken
  connection, timeout) is retried until the deadline, honouring Retry-After.

While waiting, progress is reported every fraction of a second, so a cancelled task (lost
lease, worker shutdown) stops within that time: ``on_progress`` raises and nothing here
catches it. The upstream task itself runs on: the Seedance API has no way to cancel one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from opendance.engines.base import EngineError, ProgressCallback
from opendance.engines.upstream.client import (
    UpstreamClient,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTransient,
    UpstreamUnreachable,
)

log = logging.getLogger("opendance.engines.upstream")

SUBMIT_ATTEMPTS = 4
MAX_BACKOFF_SECONDS = 30.0
POLL_BACKOFF_FACTOR = 1.5
POLL_MAX_FACTOR = 5  # the poll interval grows from poll_seconds to 5x that
SUBMIT_CALL_SECONDS = 60.0  # a POST carries the input image
STATUS_CALL_SECONDS = 15.0
PROGRESS_TICK_SECONDS = 0.2
UPSTREAM_SHARE = 0.9  # of the engine's progress; downloading and conforming are the rest

NOT_UNDERSTOOD = "the upstream service sent an answer this server does not understand"


class Waiter:
    """The task's deadline, and sleeping that keeps reporting progress."""

    def __init__(
        self,
        timeout: float,
        on_progress: ProgressCallback,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._deadline = clock() + timeout
        self._on_progress = on_progress
        self.fraction = 0.0

    def remaining(self) -> float:
        return self._deadline - self._clock()

    def progress(self, fraction: float) -> None:
        self.fraction = max(self.fraction, fraction)
        self._on_progress(self.fraction)

    def call_timeout(self, limit: float) -> float:
        """Time an HTTP call may take: its own limit, cut to what is left of the deadline."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self.timed_out()
        return min(limit, remaining)

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (not past the deadline: then raise "timed out")."""
        end = min(self._clock() + seconds, self._deadline)
        while (left := end - self._clock()) > 0:
            self.progress(self.fraction)  # raises once the task was cancelled
            time.sleep(min(left, PROGRESS_TICK_SECONDS))
        self.progress(self.fraction)
        if self.remaining() <= 0:
            raise self.timed_out()

    def timed_out(self) -> EngineError:
        return EngineError(
            f"the upstream service did not finish the video within {self.timeout:g} s (timed out)"
        )


def backoff(attempt: int, base: float) -> float:
    """``base``, 2x, 4x, ... capped: attempt 1 is the first retry."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def submit_task(
    client: UpstreamClient,
    body: dict[str, Any],
    waiter: Waiter,
    *,
    poll_seconds: float,
    public: Callable[[str], str],
) -> str:
    """The upstream task id; ``EngineError`` (message for the client) if there is none."""
    attempt = 0
    while True:
        attempt += 1
        try:
            task_id = client.submit(body, timeout=waiter.call_timeout(SUBMIT_CALL_SECONDS))
        except UpstreamUnreachable as exc:
            log.warning("upstream submit, attempt %d: %s", attempt, exc)
            if attempt >= SUBMIT_ATTEMPTS:
                raise EngineError("the upstream service is unreachable") from None
            wait = backoff(attempt, poll_seconds)
        except UpstreamTransient as exc:
            if exc.status != 429:
                log.warning("upstream submit not confirmed, not resent: %s", exc)
                raise EngineError(
                    "the upstream service did not confirm the task; it was not sent again "
                    "because the upstream may have accepted it"
                ) from None
            log.warning("upstream submit rate limited (Retry-After %s)", exc.retry_after)
            wait = (
                exc.retry_after if exc.retry_after is not None else backoff(attempt, poll_seconds)
            )
        except UpstreamRejected as exc:
            log.warning("upstream refused the task: %s", exc)
            raise EngineError(_rejection_message(exc, public)) from None
        except UpstreamProtocolError as exc:
            log.warning("upstream submit: %s", exc)
            raise EngineError(NOT_UNDERSTOOD) from None
        else:
            log.info("upstream task %s submitted", task_id)
            return task_id
        waiter.sleep(wait)


def wait_for_video(
    client: UpstreamClient,
    task_id: str,
    waiter: Waiter,
    *,
    poll_seconds: float,
    public: Callable[[str], str],
) -> str:
    """Poll until the upstream task ends; its video URL, or ``EngineError``."""
    interval = poll_seconds
    wait = poll_seconds
    while True:
        waiter.sleep(wait)
        interval = min(interval * POLL_BACKOFF_FACTOR, poll_seconds * POLL_MAX_FACTOR)
        wait = interval
        try:
            status = client.status(task_id, timeout=waiter.call_timeout(STATUS_CALL_SECONDS))
        except UpstreamTransient as exc:
            log.info("upstream task %s: status poll failed, retrying: %s", task_id, exc)
            if exc.retry_after is not None:
                wait = exc.retry_after
            continue
        except UpstreamUnreachable as exc:
            log.info("upstream task %s: status poll failed, retrying: %s", task_id, exc)
            continue
        except UpstreamRejected as exc:
            log.warning("upstream task %s: status refused: %s", task_id, exc)
            if exc.status == 404:
                raise EngineError("the upstream service no longer knows the task") from None
            raise EngineError(_rejection_message(exc, public)) from None
        except UpstreamProtocolError as exc:
            log.warning("upstream task %s: %s", task_id, exc)
            raise EngineError(NOT_UNDERSTOOD) from None
        if status.progress is not None:
            waiter.progress(UPSTREAM_SHARE * status.progress)
        if status.status == "SUCCESS":
            if not status.video_url:
                log.warning("upstream task %s: SUCCESS without a video URL", task_id)
                raise EngineError(NOT_UNDERSTOOD)
            log.info("upstream task %s succeeded", task_id)
            return status.video_url
        if status.status == "FAILED":
            reason = public(status.error_message or "") or "no reason given"
            log.warning("upstream task %s failed: %s", task_id, status.error_message)
            raise EngineError(f"the upstream service could not generate the video: {reason}")


def _rejection_message(exc: UpstreamRejected, public: Callable[[str], str]) -> str:
    """A 4xx, told to the client without the operator's account details."""
    if exc.status in (401, 403):
        return "the upstream service did not accept this server's credentials"
    if exc.status == 402:
        return "the upstream service does not have enough credits for this task"
    if exc.status == 400:
        detail = public(": ".join(part for part in (exc.code, exc.message) if part))
        return "the upstream service rejected the request" + (f" ({detail})" if detail else "")
    return f"the upstream service refused the task (HTTP {exc.status})"
