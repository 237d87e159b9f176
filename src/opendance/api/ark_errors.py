"""Errors as Ark answers them: ``{"error": {"code", "message", "param", "type"}}``.

Codes, types and statuses are Ark's published ones where Ark has the case: ``InvalidParameter``
and ``MissingParameter`` (400 BadRequest), ``AuthenticationError`` (401 Unauthorized),
``AccountOverdueError`` (403 Forbidden: Ark's answer to an account that cannot pay, so too few
credits is a 403 here, not the Seedance dialect's 402), ``RateLimitExceeded`` (429
TooManyRequests), ``InternalServiceError`` (500). A task that is running cannot be deleted:
409 (the Seedance dialect's status for that case) with Ark's ``OperationDenied.UnsupportedPhase``.
Where Ark has no such case (an Idempotency-Key reused, a body too large) the code is ours, in
Ark's style. Messages end with the request id, as Ark's do.

Ark's SDK retries 409, 429 and 5xx answers on its own; ``x-should-retry: false`` stops that for
the answers a retry cannot change (a conflict, an account without credits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opendance import errors
from opendance.api.envelope import JsonResponse, error_headers
from opendance.logs import request_id_var

# error class -> (HTTP status, Ark's type, Ark's code); the first class of an error's MRO found
_SHAPES: Final[dict[type[errors.ApiError], tuple[int, str, str]]] = {
    errors.InvalidApiKey: (401, "Unauthorized", "AuthenticationError"),
    errors.InsufficientCredits: (403, "Forbidden", "AccountOverdueError"),
    errors.NotFound: (404, "NotFound", "ResourceNotFound"),
    errors.MethodNotAllowed: (405, "MethodNotAllowed", "MethodNotAllowed"),
    errors.RequestTimeout: (408, "RequestTimeout", "RequestTimeout"),
    errors.TaskNotCancellable: (409, "Conflict", "OperationDenied.UnsupportedPhase"),
    errors.TaskNotFinished: (409, "Conflict", "OperationDenied.UnsupportedPhase"),
    errors.IdempotencyConflict: (409, "Conflict", "IdempotencyKeyConflict"),
    errors.PayloadTooLarge: (413, "RequestEntityTooLarge", "RequestTooLarge"),
    errors.RateLimited: (429, "TooManyRequests", "RateLimitExceeded"),
    errors.NotReady: (503, "ServiceUnavailable", "ServiceUnavailable"),
    errors.ServerBusy: (503, "ServiceUnavailable", "ServerOverloaded"),
}
_SERVER_ERROR: Final = (500, "InternalServerError", "InternalServiceError")
# The parameter a shared 400 is about, in Ark's names (the Ark door's own errors carry it).
_PARAMS: Final[dict[type[errors.ApiError], str]] = {
    errors.InvalidCallbackUrl: "callback_url",
    errors.InvalidImageUrl: "content.image_url",
    errors.TooManyImages: "content",
    errors.InvalidPrompt: "content.text",
    errors.InvalidResolution: "resolution",
    errors.InvalidAspectRatio: "ratio",
    errors.InvalidDuration: "duration",
}
_NO_RETRY: Final = (errors.Conflict,)


def ark_error_response(
    error: errors.ApiError, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    status, kind, code = _shape(error)
    body = {
        "error": {
            "code": code,
            "message": _message(error),
            "param": _param(error),
            "type": kind,
        }
    }
    merged = {**error_headers(error), **(headers or {})}
    if isinstance(error, _NO_RETRY) or status == 403:
        merged["x-should-retry"] = "false"
    return JsonResponse(body, status_code=status, headers=merged)


def _message(error: errors.ApiError) -> str:
    request_id = request_id_var.get()
    if request_id == "-":  # outside a request (a test rendering an error)
        return error.message
    return f"{error.message.rstrip('.')}. Request id: {request_id}"


def _shape(error: errors.ApiError) -> tuple[int, str, str]:
    for cls in type(error).__mro__:
        if cls in _SHAPES:
            return _SHAPES[cls]
    if error.status == 400:
        return 400, "BadRequest", getattr(error, "ark_code", "InvalidParameter")
    return _SERVER_ERROR


def _param(error: errors.ApiError) -> str:
    param = getattr(error, "param", None)
    if isinstance(param, str):
        return param
    return next((_PARAMS[cls] for cls in type(error).__mro__ if cls in _PARAMS), "")
