"""The fleet's figures as the database computes them (SQLite and PostgreSQL): durations in the
right buckets, the queue's age, credits from the ledger, webhook outcomes, live workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, update

from opendance.bootstrap import open_context
from opendance.db import deliveries as delivery_rows
from opendance.db import workers as worker_rows
from opendance.db.fleet_figures import TASK_DURATION_BUCKETS, FleetFigures, read_fleet
from opendance.db.tables import tasks, webhook_attempts, webhook_deliveries, workers
from opendance.db.types import utcnow
from opendance.services import admin
from opendance.services import tasks as task_service
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.support.factories import account_with_key, submit


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def _figures(ctx: AppContext) -> FleetFigures:
    async with ctx.db.read() as conn:
        return await read_fleet(conn, worker_seen_seconds=60)


async def _finished_task(
    ctx: AppContext, account: str, *, status: str, engine: str, waited: float, ran: float | None
) -> str:
    """A task submitted through the service, then given exact times: queued ``waited`` s
    before its (last) claim, which ran ``ran`` s (None: never claimed)."""
    task_id = await submit(ctx, await account_with_key(ctx, account))
    finished = utcnow()
    started = None if ran is None else finished - timedelta(seconds=ran)
    created = finished - timedelta(seconds=waited + (ran or 0.0))
    async with ctx.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(
                status=status,
                engine=engine,
                created_at=created,
                started_at=started,
                finished_at=finished,
            )
        )
    return task_id


async def test_durations_land_in_their_buckets_per_engine_and_state(ctx: AppContext) -> None:
    # submit to finish: 0.5 s, 3 s, 45 s, 4000 s; runs: 0.2 s, 2 s, 40 s
    await _finished_task(ctx, "a", status="succeeded", engine="preview", waited=0.3, ran=0.2)
    await _finished_task(ctx, "b", status="succeeded", engine="preview", waited=1.0, ran=2.0)
    await _finished_task(ctx, "c", status="succeeded", engine="ltx2", waited=5.0, ran=40.0)
    await _finished_task(ctx, "d", status="failed", engine="preview", waited=4000.0, ran=None)
    figures = await _figures(ctx)

    def at_most(histogram_bounds: list[int], bound: float) -> int:
        return histogram_bounds[TASK_DURATION_BUCKETS.index(bound)]

    preview_ok = figures.task_durations[("preview", "succeeded")]
    assert preview_ok.count == 2
    assert preview_ok.total == pytest.approx(3.5, abs=0.01)
    assert at_most(preview_ok.at_most, 1.0) == 1
    assert at_most(preview_ok.at_most, 2.5) == 1
    assert at_most(preview_ok.at_most, 5.0) == 2
    ltx_ok = figures.task_durations[("ltx2", "succeeded")]
    assert (ltx_ok.count, at_most(ltx_ok.at_most, 30.0), at_most(ltx_ok.at_most, 60.0)) == (1, 0, 1)
    failed = figures.task_durations[("preview", "failed")]
    assert failed.count == 1 and failed.total == pytest.approx(4000.0, abs=0.01)
    assert at_most(failed.at_most, 3600.0) == 0 and at_most(failed.at_most, 7200.0) == 1

    # run time counts successful tasks only, from their claim
    assert set(figures.run_durations) == {"preview", "ltx2"}
    preview_run = figures.run_durations["preview"]
    assert preview_run.count == 2 and preview_run.total == pytest.approx(2.2, abs=0.01)
    assert at_most(preview_run.at_most, 1.0) == 1 and at_most(preview_run.at_most, 2.5) == 2
    assert figures.run_durations["ltx2"].total == pytest.approx(40.0, abs=0.01)
    # every cumulative bucket list is non-decreasing and ends at most at the count
    for histogram in [*figures.task_durations.values(), *figures.run_durations.values()]:
        assert histogram.at_most == sorted(histogram.at_most)
        assert histogram.at_most[-1] <= histogram.count


async def test_tasks_by_state_and_the_oldest_queued_task(ctx: AppContext) -> None:
    empty = await _figures(ctx)
    assert empty.tasks_by_state == {
        "queued": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert empty.oldest_queued_age_seconds == 0.0
    owner = await account_with_key(ctx, "q")
    oldest = await submit(ctx, owner)
    await submit(ctx, owner)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == oldest)
            .values(created_at=utcnow() - timedelta(seconds=120))
        )
    figures = await _figures(ctx)
    assert figures.tasks_by_state["queued"] == 2
    assert 119 <= figures.oldest_queued_age_seconds <= 130


async def test_credits_are_the_ledger_sums_by_kind(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "payer", credits=500)
    first = await submit(ctx, owner, resolution="720p", duration=8)  # 28
    await submit(ctx, owner)  # 8
    await admin.grant_credits(ctx, "payer", 50, note="top-up")
    await task_service.cancel(ctx, owner.account_id, first)
    figures = await _figures(ctx)
    assert figures.credits == {"charge": 36, "refund": 28, "grant": 550}


async def test_webhook_attempts_by_outcome_and_deliveries_by_status(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "hooks")
    task_id = await submit(ctx, owner)
    now = utcnow()
    async with ctx.db.write() as conn:
        for n, status in enumerate(["delivered", "pending", "failed", "failed", "stopped"]):
            await delivery_rows.enqueue(
                conn,
                delivery_id=f"msg_{n}",
                task_id=task_id,
                account_id=owner.account_id,
                url="https://example.com/hook",
                payload="{}",
            )
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == f"msg_{n}")
                .values(status=status)
            )
        # answers: 200, 204, 500, 302, 410, no answer twice
        for n, code in enumerate([200, 204, 500, 302, 410, None, None]):
            await conn.execute(
                insert(webhook_attempts).values(
                    delivery_id=f"msg_{n % 5}",
                    attempt=n + 1,
                    started_at=now,
                    duration_ms=3,
                    status_code=code,
                    error=None if code else "connection refused",
                )
            )
    figures = await _figures(ctx)
    assert figures.webhook_attempts == {"delivered": 2, "rejected": 3, "unreachable": 2}
    assert figures.webhook_deliveries == {"pending": 1, "delivered": 1, "failed": 2, "stopped": 1}


async def test_live_workers_by_state_and_engine_leave_out_silent_ones(ctx: AppContext) -> None:
    async def register(worker_id: str, engine: str, state: str, seen: datetime) -> None:
        async with ctx.db.write() as conn:
            await worker_rows.register_worker(
                conn, id=worker_id, hostname="h", pid=1, engine=engine, state=state,
                current_task_id=None,
            )  # fmt: skip
            await conn.execute(
                update(workers).where(workers.c.id == worker_id).values(last_seen_at=seen)
            )

    now = utcnow()
    await register("w1", "preview", "idle", now)
    await register("w2", "preview", "busy", now)
    await register("w3", "preview", "busy", now - timedelta(seconds=5))
    await register("w4", "ltx2", "loading", now)
    await register("gone", "preview", "busy", now - timedelta(seconds=600))
    figures = await _figures(ctx)
    assert figures.workers == {
        ("idle", "preview"): 1,
        ("busy", "preview"): 2,
        ("loading", "ltx2"): 1,
    }
