"""Cancelling a task through the task service: a queued one ends at once, a running one's
worker stops at its next heartbeat, a finished one is refused; each cancelled task is refunded
exactly once, also when the cancel races the completion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from opendance import errors
from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db.tables import ledger, webhook_deliveries
from opendance.domain.capabilities import SERVES_EVERYTHING
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import ResultFiles
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.status import status_body
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.db import balance, ledger_consistent
from tests.support.factories import account_with_key, submit
from tests.worker.test_concurrency import GatedEngine


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    # a loopback callback_url is accepted (no dispatcher runs here: nothing is delivered)
    context = await open_context(settings.model_copy(update={"allow_private_urls": True}))
    yield context
    await context.close()


async def _record(ctx: AppContext, task_id: str) -> task_rows.TaskRecord:
    async with ctx.db.read() as conn:
        found = await task_rows.get_task(conn, task_id)
    assert found is not None
    return found


async def _refunds(ctx: AppContext, task_id: str) -> int:
    async with ctx.db.read() as conn:
        query = select(func.count()).where(ledger.c.task_id == task_id, ledger.c.kind == "refund")
        return int((await conn.execute(query)).scalar_one())


async def test_a_queued_task_is_cancelled_at_once_and_refunded(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "queued", credits=100)
    task_id = await submit(ctx, owner, resolution="720p", duration=8)  # 28 credits
    assert await balance(ctx, "queued") == 72
    view = await tasks.cancel(ctx, owner.account_id, task_id)
    assert view.status is TaskState.CANCELLED and view.consumed_credits == 0
    assert await balance(ctx, "queued") == 100 and await _refunds(ctx, task_id) == 1
    body = status_body(ctx, view)  # the Seedance dialect knows no cancelled state
    assert body["status"] == "FAILED" and body["consumed_credits"] == 0
    assert body["error_message"] == tasks.CANCELLED_MESSAGE
    # no worker will ever claim it
    assert (
        await tasks.claim(
            ctx, worker_id="w", capabilities=SERVES_EVERYTHING, engine="preview", model=None
        )
        is None
    )
    assert await ledger_consistent(ctx)


async def test_a_finished_task_is_not_cancellable_and_nothing_changes(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "done", credits=100)
    task_id = await submit(ctx, owner)
    await tasks.cancel(ctx, owner.account_id, task_id)
    with pytest.raises(errors.TaskNotCancellable):
        await tasks.cancel(ctx, owner.account_id, task_id)
    finished = await submit(ctx, owner)
    claimed = await tasks.claim(
        ctx, worker_id="w", capabilities=SERVES_EVERYTHING, engine="preview", model=None
    )
    assert claimed is not None and claimed.id == finished
    assert await tasks.complete(ctx, claimed, ResultFiles("videos/x.mp4", None))
    with pytest.raises(errors.TaskNotCancellable):
        await tasks.cancel(ctx, owner.account_id, finished)
    assert (await _record(ctx, finished)).status is TaskState.SUCCEEDED
    assert await balance(ctx, "done") == 100 - 8 and await _refunds(ctx, finished) == 0


async def test_another_accounts_task_is_not_found(ctx: AppContext) -> None:
    alice = await account_with_key(ctx, "alice")
    bob = await account_with_key(ctx, "bob")
    task_id = await submit(ctx, alice)
    for account_id, wanted in ((bob.account_id, task_id), (alice.account_id, "task_unknown")):
        with pytest.raises(errors.TaskNotFound):
            await tasks.cancel(ctx, account_id, wanted)
    assert (await _record(ctx, task_id)).status is TaskState.QUEUED


async def test_a_running_task_stops_at_the_next_heartbeat_and_the_worker_goes_on(
    ctx: AppContext,
) -> None:
    owner = await account_with_key(ctx, "running", credits=100)
    first = await submit(ctx, owner, callback_url="http://127.0.0.1:9/hook")
    engine = GatedEngine()
    worker = Worker(ctx, engine, concurrency=1)
    running = asyncio.create_task(worker.run(max_tasks=2))
    try:
        async with asyncio.timeout(60):
            while engine.rendering == 0:  # noqa: ASYNC110 - a render thread sets it
                await asyncio.sleep(0.02)
        view = await tasks.cancel(ctx, owner.account_id, first)
        assert view.status is TaskState.CANCELLED
        async with asyncio.timeout(30):
            while engine.rendering:  # noqa: ASYNC110 - stops at its next progress report
                await asyncio.sleep(0.02)
        engine.gate.set()
        second = await submit(ctx, owner)
        await asyncio.wait_for(running, 60)
    finally:
        engine.gate.set()
        worker.stop()
        await asyncio.wait_for(running, 60)
    cancelled = await _record(ctx, first)
    assert cancelled.status is TaskState.CANCELLED and cancelled.video_key is None
    assert (await _record(ctx, second)).status is TaskState.SUCCEEDED
    assert await _refunds(ctx, first) == 1 and await balance(ctx, "running") == 100 - 8
    async with ctx.db.read() as conn:  # the webhook reports the cancel, once
        hooks = (await conn.execute(select(webhook_deliveries.c.payload))).scalars().all()
    assert len(hooks) == 1 and '"status":"FAILED"' in hooks[0]
    assert await ledger_consistent(ctx)


async def test_a_cancel_racing_a_completion_refunds_only_a_cancelled_task(
    ctx: AppContext,
) -> None:
    owner = await account_with_key(ctx, "racer", credits=10_000)
    outcomes = []
    for round_number in range(12):
        task_id = await submit(ctx, owner, seed=round_number)
        claimed = await tasks.claim(
            ctx, worker_id="w", capabilities=SERVES_EVERYTHING, engine="preview", model=None
        )
        assert claimed is not None and claimed.id == task_id

        async def cancel(task_id: str = task_id) -> bool:
            try:
                await tasks.cancel(ctx, owner.account_id, task_id)
            except errors.TaskNotCancellable:
                return False
            return True

        completed, cancelled = await asyncio.gather(
            tasks.complete(ctx, claimed, ResultFiles(f"videos/{task_id}-1.mp4", None)),
            cancel(),
        )
        assert completed != cancelled  # exactly one of them won
        final = await _record(ctx, task_id)
        expected = TaskState.CANCELLED if cancelled else TaskState.SUCCEEDED
        assert final.status is expected
        assert await _refunds(ctx, task_id) == (1 if cancelled else 0)
        outcomes.append(final.status)
    assert await ledger_consistent(ctx)
    charged = sum(8 for state in outcomes if state is TaskState.SUCCEEDED)
    assert await balance(ctx, "racer") == 10_000 - charged
