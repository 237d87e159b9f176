"""The one error tree of the service.

Every error a client can see is an ``ApiError`` subclass that carries its stable machine code
(``error`` in the envelope) and its HTTP status; the API maps them to the envelope in one handler.

    OpendanceError
    ├── ApiError                      (code + HTTP status; shown to clients)
    │   ├── InvalidRequest            400 INVALID_REQUEST
    │   │   ├── InvalidPrompt         400 INVALID_PROMPT
    │   │   ├── InvalidAspectRatio    400 INVALID_ASPECT_RATIO
    │   │   ├── InvalidResolution     400 INVALID_RESOLUTION
    │   │   ├── InvalidDuration       400 INVALID_DURATION
    │   │   ├── TooManyImages         400 TOO_MANY_IMAGES
    │   │   ├── InvalidImageUrl       400 INVALID_IMAGE_URL
    │   │   ├── InvalidCallbackUrl    400 INVALID_CALLBACK_URL
    │   │   └── UnsupportedOption     400 UNSUPPORTED_OPTION
    │   ├── InvalidApiKey             401 INVALID_API_KEY
    │   ├── InvalidMetricsToken       401 INVALID_METRICS_TOKEN
    │   ├── InsufficientCredits       402 INSUFFICIENT_CREDITS
    │   ├── NotFound                  404 NOT_FOUND
    │   │   └── TaskNotFound          404 TASK_NOT_FOUND
    │   ├── MethodNotAllowed          405 METHOD_NOT_ALLOWED
    │   ├── RequestTimeout            408 REQUEST_TIMEOUT
    │   ├── Conflict                  409 CONFLICT
    │   │   ├── TaskNotCancellable    409 TASK_NOT_CANCELLABLE
    │   │   ├── TaskNotFinished       409 TASK_NOT_FINISHED
    │   │   └── IdempotencyConflict   409 IDEMPOTENCY_CONFLICT
    │   ├── PayloadTooLarge           413 PAYLOAD_TOO_LARGE
    │   ├── RateLimited               429 RATE_LIMITED
    │   ├── InternalError             500 INTERNAL_ERROR
    │   ├── NotReady                  503 NOT_READY
    │   └── ServerBusy                503 SERVER_BUSY
    └── AdminError                    (CLI: unknown account, duplicate name, ...)
"""

from __future__ import annotations

from collections.abc import Sequence

from opendance.domain import presets

# Messages name what is offered from the constants the validators use, so they cannot drift.


def _choices(values: Sequence[object]) -> str:
    """``4, 8 or 12``."""
    *most, last = (str(value) for value in values)
    return f"{', '.join(most)} or {last}"


class OpendanceError(Exception):
    """Base class of every error raised on purpose by Opendance."""


class ApiError(OpendanceError):
    """An error with a stable code and HTTP status, shown to API clients."""

    code = "INTERNAL_ERROR"
    status = 500
    default_message = "internal error"
    param: str | None = None
    """The request parameter at fault, where one is (the OpenAI and Ark dialects name it)."""

    def __init_subclass__(cls, *, code: str | None = None, status: int | None = None) -> None:
        """Every direct subclass names its code and status in its header
        (``class NotFound(ApiError, code="NOT_FOUND", status=404)``); a subclass of one of
        those inherits them unless it names its own."""
        super().__init_subclass__()
        if ApiError in cls.__bases__ and (code is None or status is None):
            raise TypeError(f"{cls.__name__} must name its code and status")
        cls.code, cls.status = code or cls.code, status or cls.status

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        if param is not None:
            self.param = param
        super().__init__(self.message)


class InvalidRequest(ApiError, code="INVALID_REQUEST", status=400):
    """A request this server cannot take; its subclasses name the field at fault."""

    default_message = "the request is malformed"


class InvalidPrompt(InvalidRequest, code="INVALID_PROMPT"):
    default_message = f"prompt must be a string of 1 to {presets.MAX_PROMPT_CHARS} characters"


class InvalidAspectRatio(InvalidRequest, code="INVALID_ASPECT_RATIO"):
    default_message = "aspect_ratio must be one of " + ", ".join(presets.ASPECT_RATIOS)


class InvalidResolution(InvalidRequest, code="INVALID_RESOLUTION"):
    default_message = "resolution must be " + " or ".join(presets.RESOLUTIONS)


class InvalidDuration(InvalidRequest, code="INVALID_DURATION"):
    default_message = f"duration must be {_choices(presets.DURATIONS)} (seconds)"


class TooManyImages(InvalidRequest, code="TOO_MANY_IMAGES"):
    default_message = f"image_urls may hold at most {presets.MAX_IMAGES} image URL"


class InvalidImageUrl(InvalidRequest, code="INVALID_IMAGE_URL"):
    default_message = "image_urls must hold http(s) URLs or data:image/...;base64, URLs"


class InvalidCallbackUrl(InvalidRequest, code="INVALID_CALLBACK_URL"):
    default_message = "callback_url must be a publicly reachable http(s) URL"


class UnsupportedOption(InvalidRequest, code="UNSUPPORTED_OPTION"):
    """A valid request that no engine of the serving fleet can make (sound, a first frame)."""

    default_message = "this option is not supported by the serving engines"


class InvalidApiKey(ApiError, code="INVALID_API_KEY", status=401):
    default_message = "API key is missing or invalid; send 'Authorization: Bearer <API key>'"


class InvalidMetricsToken(ApiError, code="INVALID_METRICS_TOKEN", status=401):
    default_message = (
        "GET /metrics needs 'Authorization: Bearer <token>' with the server's "
        "OPENDANCE_METRICS_TOKEN"
    )


class InsufficientCredits(ApiError, code="INSUFFICIENT_CREDITS", status=402):
    default_message = "not enough credits for this request"

    def __init__(self, *, price: int, balance: int) -> None:
        self.price = price
        self.balance = balance
        super().__init__(
            f"this request costs {price} credits but the balance is {balance}; "
            "ask the operator for more credits"
        )


class NotFound(ApiError, code="NOT_FOUND", status=404):
    default_message = "no such endpoint"


class TaskNotFound(NotFound, code="TASK_NOT_FOUND"):
    """Unknown, another account's (never told apart, so ids cannot be probed) or deleted."""

    default_message = "task not found"


class MethodNotAllowed(ApiError, code="METHOD_NOT_ALLOWED", status=405):
    default_message = "method not allowed"


class RequestTimeout(ApiError, code="REQUEST_TIMEOUT", status=408):
    """The body did not arrive whole within ``body_timeout_seconds``; the connection closes."""

    default_message = "the request body was not received in time"


class Conflict(ApiError, code="CONFLICT", status=409):
    """The request collides with the state of what it names; its subclasses say how."""

    default_message = "the request conflicts with the current state"


class TaskNotCancellable(Conflict, code="TASK_NOT_CANCELLABLE"):
    default_message = (
        "the task has already finished; only a queued or running task can be cancelled"
    )


class TaskNotFinished(Conflict, code="TASK_NOT_FINISHED"):
    default_message = "the task is still running; only a finished task can be deleted"


class IdempotencyConflict(Conflict, code="IDEMPOTENCY_CONFLICT"):
    default_message = (
        "this Idempotency-Key was used with a different request in the last 24 hours; "
        "send a new key for a new request"
    )


class PayloadTooLarge(ApiError, code="PAYLOAD_TOO_LARGE", status=413):
    default_message = "request body too large"


class RateLimited(ApiError, code="RATE_LIMITED", status=429):
    default_message = "too many requests for this API key; retry after the Retry-After delay"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(
            message or f"too many requests for this API key; retry in {retry_after} s (Retry-After)"
        )


class InternalError(ApiError, code="INTERNAL_ERROR", status=500):
    default_message = "internal server error; please retry later"


class NotReady(ApiError, code="NOT_READY", status=503):
    default_message = "not ready"


class ServerBusy(ApiError, code="SERVER_BUSY", status=503):
    default_message = "the server is busy; retry in a moment"
    retry_after = 2


class AdminError(OpendanceError):
    """An operator command could not be carried out (unknown account, duplicate name, ...)."""
