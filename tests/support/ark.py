"""Driving the Ark door with ByteDance's own SDK (``volcenginesdkarkruntime``), unmodified."""

from __future__ import annotations

import base64
import time
from typing import Any

from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime.types.content_generation.content_generation_task import (
    ContentGenerationTask,
)

from opendance.domain.capabilities import SERVES_EVERYTHING
from opendance.domain.task_view import ClaimedTask, ResultFiles
from opendance.services import tasks
from opendance.services.context import AppContext
from tests.support.live import LiveServer
from tests.support.media import png_bytes

TASKS = "/api/v3/contents/generations/tasks"
FINISHED = ("succeeded", "failed", "cancelled", "expired")


def ark_client(server: LiveServer, key: str, **options: Any) -> Ark:
    """The SDK as a client would set it up: only the base URL points here. No retries unless
    a test asks, so that an error answers at once."""
    options.setdefault("max_retries", 0)
    return Ark(base_url=server.url + "/api/v3", api_key=key, **options)


def text(prompt: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": prompt}]


def png_data_url(size: tuple[int, int], color: tuple[int, int, int] = (200, 40, 40)) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(color, size)).decode()


def wait_until(
    ark: Ark, task_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 60
) -> ContentGenerationTask:
    """Poll ``tasks.get`` as a client does, until the task reaches one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        task = ark.content_generation.tasks.get(task_id=task_id)
        if task.status in statuses:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task.status}"
        time.sleep(0.1)


def claim(server: LiveServer) -> ClaimedTask:
    """Lease the oldest queued task as a worker would (on a server without a worker): the
    task is running until the test completes or fails it."""

    async def take(ctx: AppContext) -> ClaimedTask | None:
        return await tasks.claim(
            ctx, worker_id="test-worker", capabilities=SERVES_EVERYTHING, engine=None, model=None
        )

    claimed = server.call(take)
    assert claimed is not None, "no queued task to claim"
    return claimed


def complete(server: LiveServer, claimed: ClaimedTask, **files: str) -> None:
    """Succeed a claimed task with made-up file keys (nothing reads them but the URLs)."""
    result = ResultFiles(files.pop("video_key", f"videos/{claimed.id}.mp4"), **files)
    assert server.call(lambda ctx: tasks.complete(ctx, claimed, result))


def fail(server: LiveServer, claimed: ClaimedTask, message: str) -> None:
    assert server.call(lambda ctx: tasks.fail(ctx, claimed, message))
