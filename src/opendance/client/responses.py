"""Reading the API's answers: the envelope, its errors, and the typed results inside it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from opendance.client.errors import RateLimited, ServerBusy, UnexpectedResponse, error_class
from opendance.client.models import Submitted, Task, TaskPage, TaskStatus


def envelope_data(response: httpx.Response) -> Any:
    """``data`` of a success envelope; raise the matching ``ApiError`` for an error envelope."""
    body = _json_object(response)
    if body is None or "code" not in body:
        raise UnexpectedResponse(
            f"HTTP {response.status_code} from {response.request.url} is not an API answer "
            f"({response.headers.get('content-type', 'no content type')})",
            status_code=response.status_code,
        )
    if response.is_success and body.get("code") == 200 and not body.get("error"):
        return body.get("data")
    raise api_error(response, body)


def api_error(response: httpx.Response, body: dict[str, Any]) -> Exception:
    code = str(body.get("error") or f"HTTP_{response.status_code}")
    cls = error_class(code, response.status_code)
    kwargs: dict[str, Any] = {
        "status_code": response.status_code,
        "error": code,
        "data": body.get("data"),
        "request_id": response.headers.get("x-request-id"),
    }
    if issubclass(cls, RateLimited | ServerBusy):
        kwargs["retry_after"] = retry_after_seconds(response)
    message = str(body.get("message") or f"HTTP {response.status_code}")
    return cls(message, **kwargs)


def error_from_response(response: httpx.Response) -> Exception:
    """The error for a non-2xx answer that may or may not be an envelope (downloads)."""
    body = _json_object(response)
    if body is not None and "code" in body:
        return api_error(response, body)
    return UnexpectedResponse(
        f"HTTP {response.status_code} from {response.request.url}",
        status_code=response.status_code,
    )


def submitted(data: Any) -> Submitted:
    if not isinstance(data, dict) or not isinstance(data.get("task_id"), str):
        raise UnexpectedResponse("the generate answer has no task_id", status_code=200)
    return Submitted(task_id=data["task_id"], status=_status(data.get("status", "IN_PROGRESS")))


def task(data: Any) -> Task:
    if not isinstance(data, dict) or not isinstance(data.get("task_id"), str):
        raise UnexpectedResponse("the status answer has no task_id", status_code=200)
    response = data.get("response") or []
    progress = data.get("progress")
    return Task(
        task_id=data["task_id"],
        status=_status(data.get("status")),
        consumed_credits=int(data.get("consumed_credits") or 0),
        created_at=_moment(data.get("created_at")),
        request=dict(data.get("request") or {}),
        response=[url for url in response if isinstance(url, str)],
        error_message=data.get("error_message"),
        progress=int(progress) if isinstance(progress, int | float) else None,
        updated_at=_moment(data.get("updated_at")),
        poster_url=data.get("poster_url"),
        raw=data,
    )


def task_page(data: Any) -> TaskPage:
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list):
        raise UnexpectedResponse("the task list answer has no tasks", status_code=200)
    has_more = data.get("has_more") is True
    last_id = data.get("last_id")
    if has_more and (not isinstance(last_id, str) or not tasks):
        # a next page without a cursor to reach it would be asked for forever
        raise UnexpectedResponse(
            "the task list answer has more pages but no last_id", status_code=200
        )
    return TaskPage(
        tasks=[task(item) for item in tasks],
        has_more=has_more,
        last_id=last_id if isinstance(last_id, str) else None,
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _status(value: Any) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        raise UnexpectedResponse(f"unknown task status {value!r}", status_code=200) from None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
