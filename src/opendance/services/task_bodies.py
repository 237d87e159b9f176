"""What a task's webhook carries when it ends: the task as the door it came through shows it,
so that a client's receiver reads the same object its polling does."""

from __future__ import annotations

from typing import Any

from opendance.domain.doors import Door
from opendance.domain.task_view import TaskView
from opendance.services.ark_objects import task_object
from opendance.services.context import AppContext
from opendance.services.openai_videos import video_object
from opendance.services.status import status_body


def terminal_body(ctx: AppContext, task: TaskView) -> dict[str, Any]:
    match task.door:
        case Door.ARK:
            return task_object(ctx, task)
        case Door.OPENAI:
            # the video object its client polls (OpenAI's own webhooks carry only the id)
            return video_object(task, ctx.settings.retention_days)
        case Door.SEEDANCE:
            return {"code": 200, "message": "success", "data": status_body(ctx, task)}
