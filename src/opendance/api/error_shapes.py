"""Errors in the shape of the door a request came to: each dialect's clients parse their own.
Which door is decided by the path alone, so that routing errors (404, 405), body limits and
timeouts look right to a dialect's SDK too."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from opendance.api.ark_errors import ark_error_response
from opendance.api.envelope import error_headers, failure
from opendance.api.openai_errors import openai_error_response
from opendance.errors import ApiError

ARK_PREFIX = "/api/v3/"
OPENAI_PREFIX = "/v1/videos"


def error_response(
    path: str, error: ApiError, headers: Mapping[str, str] | None = None
) -> Response:
    """``error`` as the door of ``path`` answers it (the Seedance envelope by default)."""
    if path.startswith(ARK_PREFIX):
        return ark_error_response(error, headers)
    merged = {**error_headers(error), **(headers or {})}
    if is_openai_path(path):
        return openai_error_response(error, merged)
    return failure(error, merged)


def is_openai_path(path: str) -> bool:
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")
