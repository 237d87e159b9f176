"""Every error of the client commands as one line of what went wrong and one of what to do."""

from __future__ import annotations

from dataclasses import dataclass

from opendance.client import (
    ApiError,
    BadRequest,
    ConfigurationError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidApiKey,
    OpendanceClientError,
    RateLimited,
    TaskNotCancellable,
    TaskNotFound,
    TransportError,
    UnexpectedResponse,
    UnsupportedOption,
    VideoNotReady,
    WaitTimeout,
)


@dataclass(frozen=True)
class Explanation:
    message: str
    hint: str | None
    code: str
    """The API's error code, or a name for errors that are not the API's."""


def explain(exc: OpendanceClientError, *, base_url: str) -> Explanation:
    if isinstance(exc, ApiError):
        return _explain_api_error(exc)
    if isinstance(exc, TransportError):
        return Explanation(
            str(exc),
            f"is the server running at {base_url}? Set --base-url or OPENDANCE_BASE_URL.",
            "CONNECTION_FAILED",
        )
    if isinstance(exc, WaitTimeout):
        return Explanation(
            str(exc),
            f"the task keeps running; look again with: opendance status {exc.task_id}",
            "WAIT_TIMEOUT",
        )
    if isinstance(exc, VideoNotReady):
        hint = (
            None if exc.task.failed else f"wait for it: opendance status {exc.task.task_id} --wait"
        )
        return Explanation(str(exc), hint, "VIDEO_NOT_READY")
    if isinstance(exc, UnexpectedResponse):
        return Explanation(
            str(exc), f"is {base_url} the address of the API (--base-url)?", "UNEXPECTED_RESPONSE"
        )
    if isinstance(exc, ConfigurationError):
        return Explanation(str(exc), None, "CONFIGURATION")
    return Explanation(str(exc), None, type(exc).__name__)


def _explain_api_error(exc: ApiError) -> Explanation:
    message = f"{exc.message} ({exc.error})"
    if isinstance(exc, InvalidApiKey):
        hint = "pass a valid key with --api-key or set OPENDANCE_API_KEY"
    elif isinstance(exc, InsufficientCredits):
        if exc.price is not None and exc.balance is not None:
            message = (
                f"not enough credits: this request costs {exc.price}, "
                f"the balance is {exc.balance} ({exc.error})"
            )
        hint = (
            "ask the operator for credits, or ask for less "
            "(480p, a shorter duration, no audio cost fewer credits)"
        )
    elif isinstance(exc, RateLimited):
        wait = f" in {exc.retry_after:g} s" if exc.retry_after is not None else " later"
        hint = f"too many requests for this key; try again{wait}"
    elif isinstance(exc, TaskNotCancellable):
        hint = "only a queued or running task can be cancelled; 'opendance status ID' shows it"
    elif isinstance(exc, IdempotencyConflict):
        hint = "an Idempotency-Key stands for one request for 24 hours; send a new one"
    elif isinstance(exc, TaskNotFound):
        hint = "check the task id (tasks of other accounts are not visible)"
    elif isinstance(exc, UnsupportedOption):
        hint = "this server's engines cannot do that; leave the option out"
    elif isinstance(exc, BadRequest):
        hint = "see 'opendance generate --help' for the accepted values"
    elif exc.status_code >= 500:
        hint = "a server-side problem; try again later"
        if exc.request_id:
            hint += f" (request id {exc.request_id})"
    else:
        hint = None
    return Explanation(message, hint, exc.error)
