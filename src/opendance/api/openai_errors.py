"""Errors as the OpenAI API answers them: ``{"error": {"message", "type", "param", "code"}}``.

The status is Seedance's where the case exists, with one exception taken from OpenAI: too few
credits is 429 ``insufficient_quota`` (not 402) with ``x-should-retry: false``, the header that
stops the SDK's automatic retries (a retry cannot help until someone adds credits). A 409
carries it too: the SDK retries 409 by default, and a key reused for another body stays so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opendance import errors
from opendance.api.envelope import JsonResponse

NO_RETRY: Final = {"x-should-retry": "false"}

# type and code of OpenAI's own answers where the case exists; else the stable code, lowered
_KINDS: Final[dict[type[errors.ApiError], tuple[str, str | None]]] = {
    errors.InvalidApiKey: ("invalid_request_error", "invalid_api_key"),
    errors.TaskNotFound: ("invalid_request_error", "not_found"),  # a video, to this client
    errors.InsufficientCredits: ("insufficient_quota", "insufficient_quota"),
    errors.RateLimited: ("requests", "rate_limit_exceeded"),
    errors.InternalError: ("server_error", "internal_error"),
    errors.NotReady: ("server_error", "not_ready"),
    errors.ServerBusy: ("server_error", "server_busy"),
}
# the Seedance errors that name one field, as this dialect calls it
_PARAMS: Final[dict[type[errors.ApiError], str]] = {
    errors.InvalidPrompt: "prompt",
    errors.InvalidDuration: "seconds",
    errors.InvalidImageUrl: "input_reference",
    errors.TooManyImages: "input_reference",
    errors.InvalidCallbackUrl: "callback_url",
}


def openai_error_response(error: errors.ApiError, headers: Mapping[str, str]) -> JsonResponse:
    kind, code = _KINDS.get(type(error), ("invalid_request_error", error.code.lower()))
    param = error.param or _PARAMS.get(type(error))
    status = error.status
    extra = dict(headers)
    if isinstance(error, errors.InsufficientCredits):
        status = 429
        extra.update(NO_RETRY)
    elif status == 409:
        extra.update(NO_RETRY)
    body = {"error": {"message": error.message, "type": kind, "param": param, "code": code}}
    return JsonResponse(body, status_code=status, headers=extra)
