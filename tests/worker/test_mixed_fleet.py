"""A mixed fleet as real processes: an API replica (``serve --workers 0``), a worker whose engine
makes silent text-to-video only and a worker that also makes sound and image-to-video (preview
engines standing in for Wan and LTX-2). Each worker claims only the tasks it can serve, and the
API accepts what the fleet as a whole can serve, following workers as they come and go."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db.tables import workers
from opendance.db.tasks import TaskRecord
from opendance.domain.task_states import TaskState
from opendance.media.probe import probe_mp4
from opendance.services import admin
from opendance.services.capacity import FLEET_CACHE_SECONDS
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.soak.fleet import WorkerSlot
from tests.support.live import free_port, generate
from tests.support.media import png_bytes
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.slow

SILENT_ENV = {"OPENDANCE_PREVIEW_AUDIO": "false", "OPENDANCE_PREVIEW_IMAGE_TO_VIDEO": "false"}
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes((20, 90, 200))).decode()
BODY = {"resolution": "480p", "duration": 4, "aspect_ratio": "16:9"}
SEEN_SECONDS = 10


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


def _post(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post("/v1/generate", json={**BODY, **fields})


def _accepted(client: httpx.Client, **fields: Any) -> str:
    return generate(client, **{**BODY, **fields})


def _refused_as_unsupported(response: httpx.Response) -> bool:
    return response.status_code == 400 and response.json()["error"] == "UNSUPPORTED_OPTION"


def _until(predicate: Any, what: str, timeout: float = 30) -> None:
    """Until ``predicate()`` holds; the API caches what the fleet offers for a few seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)


async def _registered(ctx: AppContext, slot: WorkerSlot) -> str:
    """The id a worker process registered under, once it has."""
    async with asyncio.timeout(60):
        while True:
            async with ctx.db.read() as conn:
                found = (
                    await conn.execute(select(workers.c.id).where(workers.c.pid == slot.pid))
                ).scalar()
            if found is not None:
                return str(found)
            assert slot.alive(), slot.output()
            await asyncio.sleep(0.1)


async def _tasks(ctx: AppContext, ids: list[str]) -> list[TaskRecord]:
    async with ctx.db.read() as conn:
        found = [await task_rows.get_task(conn, task_id) for task_id in ids]
    assert all(task is not None for task in found)
    return [task for task in found if task is not None]


async def _all_succeeded(ctx: AppContext, ids: list[str]) -> list[TaskRecord]:
    async with asyncio.timeout(120):
        while True:
            found = await _tasks(ctx, ids)
            assert not [t for t in found if t.status is TaskState.FAILED], found
            if all(t.status is TaskState.SUCCEEDED for t in found):
                return found
            await asyncio.sleep(0.1)


async def test_each_worker_claims_only_what_its_engine_serves(
    ctx: AppContext, settings: Settings
) -> None:
    await admin.create_account(ctx, "studio", 10_000)
    secret = (await admin.create_key(ctx, "studio")).secret
    data_dir, logs_dir = settings.data_dir, settings.data_dir.parent
    # A killed worker stays in the fleet this long: long enough for the test to see its kind
    # of task still accepted and waiting for a replacement, short enough to see it leave.
    fleet_env = {"OPENDANCE_WORKER_SEEN_SECONDS": str(SEEN_SECONDS)}
    api = ServeProcess(data_dir, free_port(), ("--workers", "0", "--no-demo"), env=fleet_env)
    api.start()
    silent = WorkerSlot(0, data_dir, {**fleet_env, **SILENT_ENV}, logs_dir).start()
    full = WorkerSlot(1, data_dir, fleet_env, logs_dir)
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        with httpx.Client(base_url=api.url, headers=headers, timeout=30) as client:
            silent_id = await _registered(ctx, silent)
            # Only the silent worker: sound and image-to-video are refused, and nothing is queued.
            _until(lambda: _refused_as_unsupported(_post(client, prompt="a", generate_audio=True)),
                   "audio refused while no worker makes sound")  # fmt: skip
            refused = _post(client, prompt="b", generate_audio=False, image_urls=[IMAGE])
            assert _refused_as_unsupported(refused), refused.text

            # The full worker joins: the API accepts everything, each kind goes where it can.
            full.start()
            full_id = await _registered(ctx, full)
            _until(lambda: _post(client, prompt="probe", generate_audio=False).status_code == 200,
                   "a plain task accepted")  # fmt: skip
            _until(lambda: _post(client, prompt="probe", generate_audio=True).status_code == 200,
                   "audio accepted once a worker makes sound")  # fmt: skip
            sound = [_accepted(client, prompt=f"surf {i}", generate_audio=True) for i in range(3)]
            image = [
                _accepted(client, prompt=f"wall {i}", generate_audio=False, image_urls=[IMAGE])
                for i in range(2)
            ]
            plain = [_accepted(client, prompt=f"dune {i}", generate_audio=False) for i in range(4)]
            done = await _all_succeeded(ctx, sound + image + plain)
            by_id = {task.id: task for task in done}
            for task_id in sound + image:
                assert by_id[task_id].lease_owner == full_id, by_id[task_id]
            for task_id in sound:
                video = probe_mp4(settings.objects_dir / str(by_id[task_id].video_key))
                assert video.has_audio, task_id
            assert {by_id[t].lease_owner for t in plain} <= {silent_id, full_id}
            assert all(by_id[t].engine == "preview" for t in by_id)

            # The full worker dies (SIGKILL, still counted as seen): its kind of task is still
            # accepted and waits in the queue, untouched by the idle silent worker, until a
            # replacement comes up.
            full.kill()
            waiting = _accepted(client, prompt="storm", generate_audio=True)
            later = [_accepted(client, prompt=f"reef {i}", generate_audio=False) for i in range(2)]
            await _all_succeeded(ctx, later)
            await asyncio.sleep(1.0)  # the silent worker polls many times meanwhile
            [still] = await _tasks(ctx, [waiting])
            assert still.status is TaskState.QUEUED and still.attempts == 0, still
            assert f"task {waiting}" not in silent.output()
            full.start()
            replacement_id = await _registered(ctx, full)
            [finished] = await _all_succeeded(ctx, [waiting])
            assert finished.lease_owner == replacement_id != full_id

            # The full worker leaves for good (SIGTERM unregisters it; the killed one is no
            # longer counted): sound is refused again.
            assert full.stop() == 0, full.output()[-3000:]
            _until(
                lambda: _refused_as_unsupported(_post(client, prompt="c", generate_audio=True)),
                "audio refused after the only worker with sound left",
                timeout=SEEN_SECONDS + FLEET_CACHE_SECONDS + 30,
            )
            assert _post(client, prompt="d", generate_audio=False).status_code == 200
        assert silent.stop() == 0, silent.output()[-3000:]
    finally:
        for slot in (silent, full):
            if slot.alive():
                slot.stop()
        api.stop()
