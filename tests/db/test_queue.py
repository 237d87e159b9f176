"""The queue on a real database (SQLite, PostgreSQL): claims, fencing, expiry, one refund."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db import types as db_types
from opendance.db.tables import tasks
from opendance.db.types import utcnow
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import Lease, ResultFiles
from opendance.services import tasks as task_service
from opendance.services.context import AppContext
from opendance.services.tasks import reap_expired as reap_expired_leases
from opendance.settings import Settings
from tests.support.db import balance, ledger_consistent
from tests.support.factories import account_with_key, submit


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings.model_copy(update={"max_attempts": 2}))
    yield context
    await context.close()


async def _claim(ctx: AppContext, owner: str) -> task_rows.TaskRecord | None:
    async with ctx.db.write() as conn:
        return await task_rows.claim_next(conn, owner=owner, lease_seconds=30)


async def _expire(ctx: AppContext, task_id: str) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


async def _get(ctx: AppContext, task_id: str) -> task_rows.TaskRecord:
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    assert task is not None
    return task


async def test_claims_are_oldest_first_and_exclusive(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "q")
    first = await submit(ctx, owner)
    await asyncio.sleep(0.002)
    second = await submit(ctx, owner)
    claims = await asyncio.gather(*[_claim(ctx, f"w{i}") for i in range(5)])
    claimed = [c.id for c in claims if c is not None]
    assert sorted(claimed) == sorted([first, second])
    assert (await _get(ctx, first)).lease_token == 1


async def test_completion_needs_the_current_fencing_token(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "fence")
    task_id = await submit(ctx, owner)
    stale = await _claim(ctx, "slow-worker")
    assert stale is not None
    await _expire(ctx, task_id)
    assert await reap_expired_leases(ctx) == 1
    assert (await _get(ctx, task_id)).status is TaskState.QUEUED
    fresh = await _claim(ctx, "fast-worker")
    assert fresh is not None and fresh.lease_token == stale.lease_token + 1
    async with ctx.db.write() as conn:
        late = await task_rows.complete(
            conn,
            Lease(task_id, stale.lease_token, "slow-worker"),
            ResultFiles("v/late.mp4", None),
        )
        beat = await task_rows.heartbeat(
            conn, Lease(task_id, stale.lease_token, "slow-worker"), lease_seconds=30, progress=50
        )
    assert not late and not beat
    async with ctx.db.write() as conn:
        assert await task_rows.complete(
            conn,
            Lease(task_id, fresh.lease_token, "fast-worker"),
            ResultFiles("v/ok.mp4", None),
        )
    done = await _get(ctx, task_id)
    assert done.status is TaskState.SUCCEEDED and done.video_key == "v/ok.mp4"


async def test_expired_leases_fail_and_refund_after_max_attempts(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "crashy", credits=100)
    task_id = await submit(ctx, owner)
    assert await balance(ctx, "crashy") == 92
    for _ in range(2):
        assert await _claim(ctx, "doomed") is not None
        await _expire(ctx, task_id)
        await reap_expired_leases(ctx)
    failed = await _get(ctx, task_id)
    assert failed.status is TaskState.FAILED
    assert failed.error_message and "interrupted 2 times" in failed.error_message
    assert await balance(ctx, "crashy") == 100
    assert await ledger_consistent(ctx)


async def test_a_task_is_refunded_exactly_once_under_racing_failures(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "twice", credits=100)
    await submit(ctx, owner)
    claimed = await _claim(ctx, "w")
    assert claimed is not None

    async def fail_it() -> bool:
        return await task_service.fail(ctx, claimed.claimed(), "boom")

    results = await asyncio.gather(*[fail_it() for _ in range(5)])
    assert results.count(True) == 1
    assert await balance(ctx, "twice") == 100
    assert await ledger_consistent(ctx)


async def test_released_task_goes_back_without_counting_the_attempt(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "drain")
    task_id = await submit(ctx, owner)
    claimed = await _claim(ctx, "w")
    assert claimed is not None
    async with ctx.db.write() as conn:
        assert await task_rows.release(conn, Lease(task_id, claimed.lease_token, "w"))
    back = await _get(ctx, task_id)
    assert back.status is TaskState.QUEUED and back.attempts == 0


async def test_terminal_tasks_cannot_move_again(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "final")
    task_id = await submit(ctx, owner)
    claimed = await _claim(ctx, "w")
    assert claimed is not None
    lease = Lease(task_id, claimed.lease_token, "w")
    async with ctx.db.write() as conn:
        assert await task_rows.complete(conn, lease, ResultFiles("v.mp4", None))
    assert not await task_service.fail(ctx, claimed.claimed(), "too late")
    async with ctx.db.write() as conn:
        assert not await task_rows.release(conn, lease)
    assert (await _get(ctx, task_id)).status is TaskState.SUCCEEDED


async def test_reaper_forgets_workers_that_died_silently(ctx: AppContext) -> None:
    from opendance.db import workers as worker_rows
    from opendance.db.tables import workers

    async with ctx.db.write() as conn:
        for name in ("alive", "dead"):
            await worker_rows.register_worker(
                conn,
                id=name,
                hostname="h",
                pid=1,
                engine="preview",
                state="idle",
                current_task_id=None,
            )
        await conn.execute(
            update(workers)
            .where(workers.c.id == "dead")
            .values(last_seen_at=utcnow() - timedelta(hours=2))
        )
    await reap_expired_leases(ctx)
    async with ctx.db.read() as conn:
        left = [r.id for r in await conn.execute(workers.select())]
    assert left == ["alive"]


async def test_a_reaped_failure_deletes_the_stored_input_image(ctx: AppContext) -> None:
    import base64

    from tests.support.media import png_bytes

    owner = await account_with_key(ctx, "inputs", credits=100)
    image = base64.b64encode(png_bytes((9, 9, 9))).decode()
    task_id = await submit(ctx, owner, image_urls=[f"data:image/png;base64,{image}"])
    stored = ctx.settings.objects_dir / "inputs" / task_id
    assert stored.is_file()
    for _ in range(2):
        assert await _claim(ctx, "doomed") is not None
        await _expire(ctx, task_id)
        await reap_expired_leases(ctx)
    assert (await _get(ctx, task_id)).status is TaskState.FAILED
    assert not stored.exists()


def test_scratch_dirs_of_dead_workers_are_swept(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from opendance.worker.runner import scratch_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / "work" / f"{host}-{dead.pid}-abcdef"
    live = tmp_path / "work" / f"{host}-{os.getpid()}-123456"
    other_host = tmp_path / "work" / f"elsewhere-{dead.pid}-abcdef"
    for path in (stale, live, other_host):
        path.mkdir(parents=True)
        (path / "half.mp4.part").write_bytes(b"x")
    mine = scratch_dir(tmp_path)
    assert not stale.exists()
    assert live.exists() and other_host.exists() and mine.is_dir()


@pytest.mark.only_on("postgresql")
async def test_leases_follow_the_database_clock_on_postgresql(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose clock runs an hour late still gets a full lease: PostgreSQL's now()
    measures it, so machines with skewed clocks agree on when a lease runs out."""
    owner = await account_with_key(ctx, "skewed")
    task_id = await submit(ctx, owner)
    monkeypatch.setattr(db_types, "utcnow", lambda: utcnow() - timedelta(hours=1))
    claimed = await _claim(ctx, "late-clock")
    assert claimed is not None and claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > utcnow() + timedelta(seconds=20)
    async with ctx.db.read() as conn:
        assert await task_rows.expired_leases(conn) == []
    assert (await _get(ctx, task_id)).status is TaskState.RUNNING
