"""A worker whose slot stalled past its lease (the process was frozen, another worker reaped
the lease) must neither crash nor run the task twice at once when the task comes back to the
queue while that slot still winds it down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db.tables import tasks
from opendance.db.types import utcnow
from opendance.domain.task_states import TaskState
from opendance.services import tasks as task_service
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.db import ledger_consistent
from tests.support.factories import account_with_key, submit
from tests.worker.test_concurrency import GatedEngine


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    # No heartbeat within the test: the render's slot behaves as if its process were frozen.
    context = await open_context(settings.model_copy(update={"heartbeat_seconds": 60.0}))
    yield context
    await context.close()


async def test_a_task_reaped_from_a_stalled_slot_is_not_claimed_twice_and_nothing_crashes(
    ctx: AppContext,
) -> None:
    owner = await account_with_key(ctx, "stalled")
    task_id = await submit(ctx, owner)
    engine = GatedEngine()
    worker = Worker(ctx, engine, concurrency=2)
    running = asyncio.create_task(worker.run(max_tasks=2))
    try:
        async with asyncio.timeout(60):
            while engine.rendering == 0:  # noqa: ASYNC110 - a render thread sets it
                await asyncio.sleep(0.02)
        # the lease runs out while the slot is frozen; another process reaps it
        async with ctx.db.write() as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        # (the worker's idle slot may reap it first: any reaper will do)
        await task_service.reap_expired(ctx)
        await asyncio.sleep(1.0)  # twenty poll intervals for the idle sibling slot
        assert engine.rendering == 1 and engine.most_at_once == 1
        async with ctx.db.read() as conn:
            requeued = await task_rows.get_task(conn, task_id)
        assert requeued is not None and requeued.status is TaskState.QUEUED
        engine.gate.set()  # the frozen slot resumes: its result is refused, then it runs again
        await asyncio.wait_for(running, 60)
    finally:
        engine.gate.set()
        worker.stop()
        await asyncio.wait_for(running, 60)
    async with ctx.db.read() as conn:
        done = await task_rows.get_task(conn, task_id)
    assert done is not None and done.status is TaskState.SUCCEEDED and done.attempts == 2
    assert worker.in_hand == {}
    assert await ledger_consistent(ctx)
