"""Two workers, each with its own connections (as two processes would have), on one queue."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db.tables import tasks
from opendance.db.types import utcnow
from opendance.domain.spec import GenerationSpec
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import Lease, ResultFiles
from opendance.engines.base import GenerationResult, ProgressCallback
from opendance.engines.preview import PreviewEngine
from opendance.services.context import AppContext
from opendance.services.tasks import reap_expired as reap_expired_leases
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.db import ledger_consistent
from tests.support.factories import account_with_key, submit

TASKS = 8


class CountingEngine(PreviewEngine):
    """The preview engine, counting how often each prompt is rendered."""

    def __init__(self, renders: Counter[str], lock: threading.Lock) -> None:
        super().__init__()
        self.renders, self.lock = renders, lock

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        result = super().generate(spec, on_progress)
        with self.lock:
            self.renders[spec.prompt] += 1
        return result


@pytest.fixture
async def contexts(settings: Settings) -> AsyncIterator[tuple[AppContext, AppContext]]:
    shared = settings.model_copy(update={"database_url": settings.resolved_database_url})
    first = await open_context(shared)
    second = await open_context(shared)
    yield first, second
    await first.close()
    await second.close()


async def _all_succeeded(ctx: AppContext, ids: list[str]) -> list[task_rows.TaskRecord]:
    async with asyncio.timeout(60):
        while True:
            async with ctx.db.read() as conn:
                found = [await task_rows.get_task(conn, task_id) for task_id in ids]
            done = [t for t in found if t is not None and t.status is TaskState.SUCCEEDED]
            if len(done) == len(ids):
                return done
            await asyncio.sleep(0.05)


async def test_two_workers_share_one_queue_and_render_each_task_once(
    contexts: tuple[AppContext, AppContext],
) -> None:
    first, second = contexts
    owner = await account_with_key(first, "fleet")
    ids = [await submit(first, owner, prompt=f"kite number {i}") for i in range(TASKS)]
    renders: Counter[str] = Counter()
    lock = threading.Lock()
    workers = [Worker(ctx, CountingEngine(renders, lock)) for ctx in contexts]
    running = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        done = await _all_succeeded(second, ids)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*running), 30)
    assert renders == Counter({f"kite number {i}": 1 for i in range(TASKS)})
    assert all(task.attempts == 1 for task in done)
    assert {task.lease_owner for task in done} <= {worker.id for worker in workers}
    assert sum(worker.completed for worker in workers) == TASKS
    assert await ledger_consistent(first)


async def test_a_stale_worker_cannot_complete_a_task_another_worker_took_over(
    contexts: tuple[AppContext, AppContext],
) -> None:
    first, second = contexts
    owner = await account_with_key(first, "stale")
    task_id = await submit(first, owner)
    async with first.db.write() as conn:
        claimed = await task_rows.claim_next(conn, owner="slow", lease_seconds=30)
    assert claimed is not None
    stale = Lease(task_id, claimed.lease_token, "slow")
    # the slow worker stops heartbeating; its lease runs out and the other side reaps it
    async with first.db.write() as conn:
        await conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(lease_expires_at=utcnow())
        )
    await asyncio.sleep(0.01)
    assert await reap_expired_leases(second) == 1
    async with second.db.write() as conn:
        taken = await task_rows.claim_next(conn, owner="fresh", lease_seconds=30)
    assert taken is not None and taken.lease_token == stale.token + 1
    async with first.db.write() as conn:
        assert not await task_rows.complete(conn, stale, ResultFiles("stale.mp4", None))
        assert not await task_rows.heartbeat(conn, stale, lease_seconds=30, progress=50)
    fresh = Lease(task_id, taken.lease_token, "fresh")
    async with second.db.write() as conn:
        assert await task_rows.complete(conn, fresh, ResultFiles("fresh.mp4", None))
    async with first.db.read() as conn:
        final = await task_rows.get_task(conn, task_id)
    assert final is not None and final.status is TaskState.SUCCEEDED
    assert final.video_key == "fresh.mp4" and final.lease_owner == "fresh"
