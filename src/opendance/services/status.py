"""GET /v1/status: the task as the contract shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opendance import errors
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services.context import AppContext


def found_status(ctx: AppContext, task_id: str, task: TaskView | None) -> dict[str, Any]:
    """The status body of a task looked up for its account (None: unknown or not theirs)."""
    if task is None:
        raise errors.TaskNotFound(f"task {task_id!r} not found")
    return status_body(ctx, task)


def status_body(ctx: AppContext, task: TaskView) -> dict[str, Any]:
    """The Seedance status body: a cancelled task reads FAILED, with its error message."""
    succeeded = task.status is TaskState.SUCCEEDED and task.video_key is not None
    return {
        "task_id": task.id,
        "status": task.status.public,
        "consumed_credits": task.consumed_credits,
        "created_at": iso_utc(task.created_at),
        "request": task.request.echo_json(),
        "response": [ctx.store.public_url(task.video_key)] if succeeded and task.video_key else [],
        "error_message": _error_message(task),
        "progress": 100 if task.status.terminal else task.progress,
        "updated_at": iso_utc(task.updated_at),
        "poster_url": (
            ctx.store.public_url(task.poster_key) if succeeded and task.poster_key else None
        ),
    }


EXPIRED_MESSAGE = "the video was deleted when the server's retention period ended; the task is kept"


def _error_message(task: TaskView) -> str | None:
    if task.status.refunded:
        return task.error_message
    if task.expired_at is not None:
        return EXPIRED_MESSAGE  # why a SUCCESS has an empty response
    return None


def iso_utc(moment: datetime) -> str:
    """``2026-02-07T10:30:00Z`` (moments are UTC already)."""
    return moment.isoformat(timespec="seconds")[:19] + "Z"
