"""The response envelope: ``{"code", "message", "data"}`` plus ``error`` on failures.
The HTTP status always equals ``code``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from opendance.errors import ApiError, RateLimited, RequestTimeout, ServerBusy


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def success(data: Any) -> JsonResponse:
    return JsonResponse({"code": 200, "message": "success", "data": data})


def failure(error: ApiError, headers: Mapping[str, str] | None = None) -> JsonResponse:
    body = {"code": error.status, "message": error.message, "error": error.code, "data": None}
    return JsonResponse(body, status_code=error.status, headers=headers)


def error_headers(error: ApiError) -> dict[str, str]:
    if isinstance(error, RateLimited | ServerBusy):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, RequestTimeout):
        # the rest of the body may still be on its way: it must not be read as a request
        return {"Connection": "close"}
    return {}
