"""The OpenAI Videos dialect's objects: a task as a ``video``, pages of them as a ``list``.

Every task can be read here, whichever door it came through. The dialect has four statuses;
a cancelled task (the dialect has no such state) reads ``failed`` with the error code
``cancelled``, as the Seedance dialect shows it as FAILED. Rendering is on the path of every
poll (``GET /v1/videos/{id}``), so it only copies fields and converts timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from opendance import errors
from opendance.domain.doors import Door
from opendance.domain.output_sizes import size_text
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services.task_lists import page_limit

DEFAULT_MODEL: Final = "sora-2"
"""What a create without ``model`` records and echoes: OpenAI's own default, so that client code
that checks the model it gets back keeps working (a task from another door shows it too)."""
CANCELLED_CODE: Final = "cancelled"
FAILED_CODE: Final = "video_generation_failed"
POLL_AFTER_MS: Final = 1000
"""``openai-poll-after-ms`` on unfinished videos: the SDK's ``poll`` sleeps this long."""

_STATUS: Final = {
    TaskState.QUEUED: "queued",
    TaskState.RUNNING: "in_progress",
    TaskState.SUCCEEDED: "completed",
    TaskState.FAILED: "failed",
    TaskState.CANCELLED: "failed",
}


def video_object(task: TaskView, retention_days: float | None) -> dict[str, Any]:
    """The ``video`` object of a task; its key order is OpenAI's."""
    finished = task.status.terminal
    return {
        "id": task.id,
        "object": "video",
        "model": task.client_model or DEFAULT_MODEL,
        "status": _STATUS[task.status],
        "progress": 100 if finished else task.progress,
        "created_at": _unix(task.created_at),
        "completed_at": _unix(task.finished_at) if finished and task.finished_at else None,
        "expires_at": expires_at(task, retention_days),
        "error": _error(task),
        "prompt": task.request.prompt,
        "seconds": str(task.request.duration),
        "size": size_text(task.request.delivered_size),
        "remixed_from_video_id": task.remixed_from,
    }


def expires_at(task: TaskView, retention_days: float | None) -> int | None:
    """When a completed video's files go (or went): null without a retention, and for a
    video that has no files to lose."""
    if task.status is not TaskState.SUCCEEDED:
        return None
    if task.expired_at is not None:
        return _unix(task.expired_at)
    if retention_days is None or task.finished_at is None:
        return None
    return _unix(task.finished_at + timedelta(days=retention_days))


def list_object(
    tasks: list[TaskView], has_more: bool, retention_days: float | None
) -> dict[str, Any]:
    data = [video_object(task, retention_days) for task in tasks]
    return {
        "object": "list",
        "data": data,
        "first_id": tasks[0].id if tasks else None,
        "last_id": tasks[-1].id if tasks else None,
        "has_more": has_more,
    }


@dataclass(frozen=True)
class ListQuery:
    after: str | None
    limit: int
    newest_first: bool


def list_query(params: Mapping[str, str]) -> ListQuery:
    """``after`` (the ``last_id`` of the page before), ``limit`` (1 to 100, default 20) and
    ``order`` (``desc``, newest first, by default; or ``asc``) of ``GET /v1/videos``."""
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise errors.InvalidRequest(f"order must be asc or desc; got {order!r}", param="order")
    try:
        limit = page_limit(params.get("limit"))
    except errors.InvalidRequest as exc:
        raise errors.InvalidRequest(exc.message, param="limit") from None
    return ListQuery(params.get("after") or None, limit, newest_first=order == "desc")


def deleted_object(video_id: str) -> dict[str, Any]:
    return {"id": video_id, "object": "video.deleted", "deleted": True}


def _error(task: TaskView) -> dict[str, str] | None:
    if task.status is TaskState.CANCELLED:
        return {"code": CANCELLED_CODE, "message": task.error_message or "cancelled"}
    if task.status is TaskState.FAILED:
        message = task.error_message or "the video failed"
        # the worker names the first frame as the Seedance door does; this door's client
        # sent it as input_reference (the Seedance name leads only a failure about the image)
        if task.door is Door.OPENAI and message.startswith(_SEEDANCE_IMAGE):
            message = "input_reference" + message.removeprefix(_SEEDANCE_IMAGE)
        return {"code": FAILED_CODE, "message": message}
    return None


_SEEDANCE_IMAGE = "image_urls[0]"


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())
