"""The Ark task object: what ``tasks.get`` returns, what ``tasks.list`` pages and what a task's
``callback_url`` receives.

Every task can be read through the Ark door, whichever door created it: the fields come from the
one typed request, and a task created without a model name shows ``DEFAULT_MODEL``. Pure (no
I/O: media URLs are signed locally), so the webhook outbox can render it inside the transaction
that ends a task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from opendance.domain import presets
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services.context import AppContext

DEFAULT_MODEL: Final = "seedance-2.0"
"""The model a task shows when it came through a door that names none (the Seedance one)."""
EXPIRED: Final = "expired"
"""The status of a task whose files retention removed (it is still readable)."""
# Ark's error code of a task that failed for a reason of the request (its first-frame image
# could not be fetched or read), and of one that failed inside the server.
_INPUT_FAILURE: Final = "InvalidParameter"
_SERVER_FAILURE: Final = "InternalServiceError"
# The Seedance name of the image in the worker's messages, as this door calls it.
_SEEDANCE_IMAGE: Final = "image_urls[0]"
_ARK_IMAGE: Final = "the first_frame image_url"


def task_object(ctx: AppContext, task: TaskView) -> dict[str, Any]:
    """The Ark task object: the fields of the SDK's ``ContentGenerationTask`` this server has
    (``content`` and ``usage`` are null until there is a video)."""
    request = task.request
    succeeded = task.status is TaskState.SUCCEEDED
    return {
        "id": task.id,
        "model": task.client_model or DEFAULT_MODEL,
        "status": EXPIRED if task.expired_at is not None else task.status.value,
        "error": _error(task),
        "content": _content(ctx, task) if succeeded and task.video_key else None,
        "usage": _usage(task) if succeeded else None,
        "created_at": _unix(task.created_at),
        "updated_at": _unix(task.updated_at),
        "seed": request.seed,
        "resolution": request.resolution,
        "ratio": request.aspect_ratio,
        "duration": request.duration,
        "framespersecond": presets.FPS,
        "generate_audio": request.generate_audio,
        "camera_fixed": request.fixed_lens,
    }


def _error(task: TaskView) -> dict[str, str] | None:
    # a cancelled task has no error: its status says what happened, and its owner did it
    if task.status is not TaskState.FAILED:
        return None
    message = task.error_message or "the task failed"
    code = _INPUT_FAILURE if message.startswith(_SEEDANCE_IMAGE) else _SERVER_FAILURE
    return {"code": code, "message": message.replace(_SEEDANCE_IMAGE, _ARK_IMAGE)}


def _content(ctx: AppContext, task: TaskView) -> dict[str, str]:
    assert task.video_key is not None
    content = {"video_url": ctx.store.public_url(task.video_key)}
    if task.request.return_last_frame and task.last_frame_key:
        content["last_frame_url"] = ctx.store.public_url(task.last_frame_key)
    return content


def _usage(task: TaskView) -> dict[str, int] | None:
    """Tokens as Ark counts a video: width x height x frames / 1024 of the delivered MP4."""
    request = task.request
    if (request.aspect_ratio, request.resolution) not in presets.FRAME_SIZES:
        return None  # an adaptive ratio nobody resolved: the size is not known here
    width, height = request.delivered_size
    tokens = width * height * presets.frame_count(request.duration) // 1024
    return {"completion_tokens": tokens, "total_tokens": tokens}


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())
