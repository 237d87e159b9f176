"""A worker under lease trouble: failed heartbeats, a lease taken away mid-render."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, OperationalError

from opendance.bootstrap import open_context
from opendance.db import database
from opendance.db import tasks as task_rows
from opendance.db.tables import tasks
from opendance.domain.task_states import TaskState
from opendance.engines.preview import PreviewEngine
from opendance.services.context import AppContext
from opendance.services.tasks import reap_expired as reap_expired_leases
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.factories import account_with_key, submit


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(
        settings.model_copy(update={"heartbeat_seconds": 0.1, "lease_seconds": 2.0})
    )
    yield context
    await context.close()


async def _task(ctx: AppContext, task_id: str) -> task_rows.TaskRecord:
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    assert task is not None
    return task


async def _wait_for(ctx: AppContext, task_id: str, predicate: Any) -> None:
    async with asyncio.timeout(30):
        while not predicate(await _task(ctx, task_id)):  # noqa: ASYNC110 - polling a row
            await asyncio.sleep(0.05)


async def test_a_failed_heartbeat_write_is_retried_not_fatal(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await account_with_key(ctx, "flaky-db")
    task_id = await submit(ctx, owner, resolution="720p", duration=8)
    real_heartbeat = task_rows.heartbeat
    failures = 0

    async def flaky(*args: Any, **kwargs: Any) -> bool:
        nonlocal failures
        if failures < 3:
            failures += 1
            raise OperationalError("UPDATE tasks", {}, Exception("database is locked"))
        return await real_heartbeat(*args, **kwargs)

    monkeypatch.setattr(task_rows, "heartbeat", flaky)
    # Other workers reap all the while: a lease left to expire would be taken away.
    reaper = asyncio.create_task(_reap_forever(ctx))
    try:
        await Worker(ctx, PreviewEngine()).run(max_tasks=1)
    finally:
        reaper.cancel()
    done = await _task(ctx, task_id)
    assert failures == 3
    assert done.status is TaskState.SUCCEEDED and done.attempts == 1


async def _reap_forever(ctx: AppContext) -> None:
    while True:
        await reap_expired_leases(ctx)
        await asyncio.sleep(0.1)


async def test_a_worker_that_loses_its_lease_writes_nothing(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "robbed")
    task_id = await submit(ctx, owner, resolution="720p", duration=12)
    worker = Worker(ctx, PreviewEngine())
    running = asyncio.create_task(worker.run(max_tasks=1))
    await _wait_for(ctx, task_id, lambda t: t.status is TaskState.RUNNING and t.progress > 0)
    # Another worker takes the task over (as after a reap and a new claim): new fencing token.
    async with ctx.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(lease_owner="thief", lease_token=tasks.c.lease_token + 1)
        )
    await asyncio.wait_for(running, 30)
    after = await _task(ctx, task_id)
    assert after.status is TaskState.RUNNING and after.lease_owner == "thief"
    assert after.video_key is None
    videos = Path(ctx.settings.objects_dir) / "videos"
    assert not videos.exists() or list(videos.iterdir()) == []


@pytest.mark.only_on("postgresql")
async def test_a_worker_frozen_inside_a_transaction_does_not_stall_the_reapers(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker stopped (SIGSTOP, a paused VM) between a heartbeat's UPDATE and its COMMIT
    # keeps the task's row locked; every other worker that reaps the expired lease waits on
    # that lock. PostgreSQL ends such a session after a while, and the reapers go on.
    monkeypatch.setattr(database, "PG_IDLE_IN_TRANSACTION_SECONDS", 1.0)
    frozen = await open_context(ctx.settings)
    owner = await account_with_key(ctx, "frozen")
    task_id = await submit(ctx, owner)
    async with frozen.db.write() as conn:
        claimed = await task_rows.claim_next(conn, owner="frozen", lease_seconds=0.2)
    assert claimed is not None
    lease = task_rows.Lease(task_id, claimed.lease_token, "frozen")
    await asyncio.sleep(0.3)  # the lease has run out
    in_transaction = asyncio.Event()

    async def heartbeat_then_freeze() -> None:
        async with frozen.db.write() as conn:
            await task_rows.heartbeat(conn, lease, lease_seconds=30, progress=50)
            in_transaction.set()
            await asyncio.sleep(60)  # never commits: the process is stopped

    stuck = asyncio.create_task(heartbeat_then_freeze())
    try:
        await asyncio.wait_for(in_transaction.wait(), 10)
        assert await asyncio.wait_for(reap_expired_leases(ctx), 15) == 1
    finally:
        stuck.cancel()
        with contextlib.suppress(asyncio.CancelledError, DBAPIError):
            await stuck
        await frozen.close()
    requeued = await _task(ctx, task_id)
    assert requeued.status is TaskState.QUEUED and requeued.progress == 0
