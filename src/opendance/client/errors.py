"""What the SDK raises. Every class here derives from ``OpendanceClientError``.

    OpendanceClientError
    ├── ConfigurationError              no API key, bad base URL
    ├── TransportError                  the server could not be reached or stopped answering
    ├── UnexpectedResponse              an answer that is not the API's JSON envelope
    ├── WaitTimeout                     wait(): the deadline passed while the task ran on
    ├── VideoNotReady                   download(): the task has no video (yet, or it failed)
    └── ApiError                        the API answered with an error envelope
        ├── BadRequest                  400, one subclass per code:
        │   ├── InvalidPrompt, InvalidAspectRatio, InvalidResolution, InvalidDuration,
        │   ├── TooManyImages, InvalidImageUrl, InvalidCallbackUrl, InvalidRequest,
        │   └── UnsupportedOption
        ├── InvalidApiKey               401
        ├── InvalidMetricsToken         401 (GET /metrics only)
        ├── InsufficientCredits         402 (price, balance)
        ├── NotFound                    404
        │   └── TaskNotFound            404
        ├── MethodNotAllowed            405
        ├── RequestTimeout              408 (the request body arrived too slowly)
        ├── Conflict                    409, one subclass per code:
        │   ├── TaskNotCancellable      cancel(): the task has already finished
        │   ├── TaskNotFinished         a delete of a task that is still running
        │   └── IdempotencyConflict     an Idempotency-Key sent again with another request
        ├── PayloadTooLarge             413
        ├── RateLimited                 429 (retry_after)
        ├── InternalError               500
        ├── NotReady                    503
        └── ServerBusy                  503 (retry_after): too many large bodies at once

An error code this SDK does not know yet becomes a plain ``ApiError`` (or ``BadRequest`` for a
400, ``Conflict`` for a 409), so code written today keeps working against a newer server.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from opendance.client.models import Task


class OpendanceClientError(Exception):
    """Base class of everything the Opendance SDK raises."""


class ConfigurationError(OpendanceClientError):
    """The client is missing its API key or has an unusable base URL."""


class TransportError(OpendanceClientError):
    """The server could not be reached, or the connection failed mid-answer."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class UnexpectedResponse(OpendanceClientError):
    """The server answered, but not with the API's JSON envelope (a proxy page, say)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(message)


class WaitTimeout(OpendanceClientError):
    """The wait's deadline passed; the task itself goes on and can be polled again later."""

    def __init__(self, task: Task, timeout: float) -> None:
        self.task = task
        self.task_id = task.task_id
        self.timeout = timeout
        super().__init__(f"task {task.task_id} is still {task.status} after {timeout:g} s")


class VideoNotReady(OpendanceClientError):
    """The task has no video to download: it is still running, or it failed."""

    def __init__(self, task: Task) -> None:
        self.task = task
        why = f"failed: {task.error_message}" if task.failed else f"is still {task.status}"
        super().__init__(f"task {task.task_id} has no video: it {why}")


ERRORS_BY_CODE: dict[str, type[ApiError]] = {}
"""Server error code -> the class raised for it (filled by the classes themselves)."""


class ApiError(OpendanceClientError):
    """An error answer of the API: ``status_code``, the stable ``error`` code, ``message``."""

    code: ClassVar[str] = ""

    def __init_subclass__(cls, *, code: str = "") -> None:
        """A class that names its server code in its header (``class NotFound(ApiError,
        code="NOT_FOUND")``) is the one raised for answers with that code."""
        super().__init_subclass__()
        if code:
            cls.code = code
            ERRORS_BY_CODE[code] = cls

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str,
        data: Any = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error = error
        self.data = data
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.error}, HTTP {self.status_code})"


class BadRequest(ApiError):
    """400: the request was refused as it stands; its ``error`` names the field."""


class InvalidPrompt(BadRequest, code="INVALID_PROMPT"): ...


class InvalidAspectRatio(BadRequest, code="INVALID_ASPECT_RATIO"): ...


class InvalidResolution(BadRequest, code="INVALID_RESOLUTION"): ...


class InvalidDuration(BadRequest, code="INVALID_DURATION"): ...


class TooManyImages(BadRequest, code="TOO_MANY_IMAGES"): ...


class InvalidImageUrl(BadRequest, code="INVALID_IMAGE_URL"): ...


class InvalidCallbackUrl(BadRequest, code="INVALID_CALLBACK_URL"): ...


class InvalidRequest(BadRequest, code="INVALID_REQUEST"): ...


class UnsupportedOption(BadRequest, code="UNSUPPORTED_OPTION"): ...


class InvalidApiKey(ApiError, code="INVALID_API_KEY"): ...


class InvalidMetricsToken(ApiError, code="INVALID_METRICS_TOKEN"):
    """401 from ``GET /metrics``: the scrape token is missing or wrong."""


class InsufficientCredits(ApiError, code="INSUFFICIENT_CREDITS"):
    """402: the balance is below the price. ``price`` and ``balance`` are ``None`` when the
    server's answer does not carry them."""

    # The contract fixes no fields for them; Opendance says both in the message, and a server
    # may also put them in ``data``.
    _FIGURES = re.compile(r"costs (\d+) credits? but the balance is (-?\d+)")

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        data = self.data if isinstance(self.data, dict) else {}
        self.price: int | None = _int_or_none(data.get("price"))
        self.balance: int | None = _int_or_none(data.get("balance"))
        match = self._FIGURES.search(message)
        if match and self.price is None:
            self.price = int(match.group(1))
        if match and self.balance is None:
            self.balance = int(match.group(2))


class NotFound(ApiError, code="NOT_FOUND"): ...


class TaskNotFound(NotFound, code="TASK_NOT_FOUND"): ...


class MethodNotAllowed(ApiError, code="METHOD_NOT_ALLOWED"): ...


class RequestTimeout(ApiError, code="REQUEST_TIMEOUT"):
    """408: the server stopped waiting for the request body (a very slow upload)."""


class Conflict(ApiError, code="CONFLICT"):
    """409: the request does not fit the state of what it names; its ``error`` says how."""


class TaskNotCancellable(Conflict, code="TASK_NOT_CANCELLABLE"):
    """409: the task has already finished (succeeded, failed or cancelled)."""


class TaskNotFinished(Conflict, code="TASK_NOT_FINISHED"):
    """409: the task is still queued or running; only a finished task can be deleted."""


class IdempotencyConflict(Conflict, code="IDEMPOTENCY_CONFLICT"):
    """409: this ``Idempotency-Key`` came with a different request in the last 24 hours."""


class PayloadTooLarge(ApiError, code="PAYLOAD_TOO_LARGE"): ...


class RateLimited(ApiError, code="RATE_LIMITED"):
    """429: too many requests for this key. ``retry_after`` is the server's wait, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalError(ApiError, code="INTERNAL_ERROR"): ...


class NotReady(ApiError, code="NOT_READY"): ...


class ServerBusy(ApiError, code="SERVER_BUSY"):
    """503: the server is handling as many large request bodies as it takes at once.
    ``retry_after`` is the server's wait, in seconds; the SDK retries after it by itself."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


def error_class(code: str, status_code: int) -> type[ApiError]:
    known = ERRORS_BY_CODE.get(code)
    if known is not None:
        return known
    if status_code == 400:
        return BadRequest
    return Conflict if status_code == 409 else ApiError


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
