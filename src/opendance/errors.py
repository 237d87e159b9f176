"""The one error tree of the service.

Every error a client can see is an ``ApiError`` subclass that carries its stable machine code
(``error`` in the envelope) and its HTTP status; the API maps them to the envelope in one handler.

    OpendanceError
    ├── ApiError                      (code + HTTP status; shown to clients)
    │   ├── InvalidPrompt             400 INVALID_PROMPT
    │   ├── InvalidAspectRatio        400 INVALID_ASPECT_RATIO
    │   ├── InvalidResolution         400 INVALID_RESOLUTION
    │   ├── InvalidDuration           400 INVALID_DURATION
    │   ├── TooManyImages             400 TOO_MANY_IMAGES
    │   ├── InvalidImageUrl           400 INVALID_IMAGE_URL
    │   ├── InvalidCallbackUrl        400 INVALID_CALLBACK_URL
    │   ├── InvalidRequest            400 INVALID_REQUEST
    │   ├── UnsupportedOption         400 UNSUPPORTED_OPTION
    │   ├── InvalidApiKey             401 INVALID_API_KEY
    │   ├── InvalidMetricsToken       401 INVALID_METRICS_TOKEN
    │   ├── InsufficientCredits       402 INSUFFICIENT_CREDITS
    │   ├── NotFound                  404 NOT_FOUND
    │   │   └── TaskNotFound          404 TASK_NOT_FOUND
    │   ├── MethodNotAllowed          405 METHOD_NOT_ALLOWED
    │   ├── RequestTimeout            408 REQUEST_TIMEOUT
    │   ├── TaskNotCancellable        409 TASK_NOT_CANCELLABLE
    │   ├── TaskNotFinished           409 TASK_NOT_FINISHED
    │   ├── IdempotencyConflict       409 IDEMPOTENCY_CONFLICT
    │   ├── PayloadTooLarge           413 PAYLOAD_TOO_LARGE
    │   ├── RateLimited               429 RATE_LIMITED
    │   ├── InternalError             500 INTERNAL_ERROR
    │   └── NotReady                  503 NOT_READY
    └── AdminError                    (CLI: unknown account, duplicate name, ...)
"""

from __future__ import annotations


class OpendanceError(Exception):
    """Base class of every error raised on purpose by Opendance."""


class ApiError(OpendanceError):
    """An error with a stable code and HTTP status, shown to API clients."""

    code = "INTERNAL_ERROR"
    status = 500
    default_message = "internal error"
    param: str | None = None
    """The request parameter at fault, where one is (the OpenAI and Ark dialects name it)."""

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        if param is not None:
            self.param = param
        super().__init__(self.message)


class InvalidPrompt(ApiError):
    code, status = "INVALID_PROMPT", 400
    default_message = "prompt must be a string of 1 to 2000 characters"


class InvalidAspectRatio(ApiError):
    code, status = "INVALID_ASPECT_RATIO", 400
    default_message = "aspect_ratio must be one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 9:21"


class InvalidResolution(ApiError):
    code, status = "INVALID_RESOLUTION", 400
    default_message = "resolution must be 480p or 720p"


class InvalidDuration(ApiError):
    code, status = "INVALID_DURATION", 400
    default_message = "duration must be 4, 8 or 12 (seconds)"


class TooManyImages(ApiError):
    code, status = "TOO_MANY_IMAGES", 400
    default_message = "image_urls may hold at most 1 image URL"


class InvalidImageUrl(ApiError):
    code, status = "INVALID_IMAGE_URL", 400
    default_message = "image_urls must hold http(s) URLs or data:image/...;base64, URLs"


class InvalidCallbackUrl(ApiError):
    code, status = "INVALID_CALLBACK_URL", 400
    default_message = "callback_url must be a publicly reachable http(s) URL"


class InvalidRequest(ApiError):
    code, status = "INVALID_REQUEST", 400
    default_message = "the request is malformed"


class UnsupportedOption(ApiError):
    code, status = "UNSUPPORTED_OPTION", 400
    default_message = "this option is not supported by the serving engines"


class InvalidApiKey(ApiError):
    code, status = "INVALID_API_KEY", 401
    default_message = "API key is missing or invalid; send 'Authorization: Bearer <API key>'"


class InvalidMetricsToken(ApiError):
    code, status = "INVALID_METRICS_TOKEN", 401
    default_message = (
        "GET /metrics needs 'Authorization: Bearer <token>' with the server's "
        "OPENDANCE_METRICS_TOKEN"
    )


class InsufficientCredits(ApiError):
    code, status = "INSUFFICIENT_CREDITS", 402
    default_message = "not enough credits for this request"

    def __init__(self, *, price: int, balance: int) -> None:
        self.price = price
        self.balance = balance
        super().__init__(
            f"this request costs {price} credits but the balance is {balance}; "
            "ask the operator for more credits"
        )


class NotFound(ApiError):
    code, status = "NOT_FOUND", 404
    default_message = "no such endpoint"


class TaskNotFound(NotFound):
    code, status = "TASK_NOT_FOUND", 404
    default_message = "task not found"


class MethodNotAllowed(ApiError):
    code, status = "METHOD_NOT_ALLOWED", 405
    default_message = "method not allowed"


class RequestTimeout(ApiError):
    code, status = "REQUEST_TIMEOUT", 408
    default_message = "the request body was not received in time"


class TaskNotCancellable(ApiError):
    code, status = "TASK_NOT_CANCELLABLE", 409
    default_message = (
        "the task has already finished; only a queued or running task can be cancelled"
    )


class TaskNotFinished(ApiError):
    code, status = "TASK_NOT_FINISHED", 409
    default_message = "the task is still running; only a finished task can be deleted"


class IdempotencyConflict(ApiError):
    code, status = "IDEMPOTENCY_CONFLICT", 409
    default_message = (
        "this Idempotency-Key was used with a different request in the last 24 hours; "
        "send a new key for a new request"
    )


class PayloadTooLarge(ApiError):
    code, status = "PAYLOAD_TOO_LARGE", 413
    default_message = "request body too large"


class RateLimited(ApiError):
    code, status = "RATE_LIMITED", 429
    default_message = "too many requests for this API key; retry after the Retry-After delay"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(
            message or f"too many requests for this API key; retry in {retry_after} s (Retry-After)"
        )


class InternalError(ApiError):
    code, status = "INTERNAL_ERROR", 500
    default_message = "internal server error; please retry later"


class NotReady(ApiError):
    code, status = "NOT_READY", 503
    default_message = "not ready"


class AdminError(OpendanceError):
    """An operator command could not be carried out (unknown account, duplicate name, ...)."""
