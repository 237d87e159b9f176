"""One worker process running several tasks at once: each with its own lease, all drained on
SIGTERM, all handed back on a second signal, max_tasks counted across its slots."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db import workers as worker_rows
from opendance.db.tables import tasks, workers
from opendance.domain.spec import GenerationSpec
from opendance.domain.task_states import TaskState
from opendance.engines.base import GenerationResult, ProgressCallback
from opendance.engines.preview import PreviewEngine
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.db import balance, ledger_consistent
from tests.support.factories import account_with_key, submit
from tests.support.processes import opendance_env


class GatedEngine(PreviewEngine):
    """The preview engine held before its first frame until the test opens the gate (still
    cancellable meanwhile: it keeps reporting progress); it counts the renders under way."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self.rendering = 0
        self.most_at_once = 0

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        with self._lock:
            self.rendering += 1
            self.most_at_once = max(self.most_at_once, self.rendering)
        try:
            while not self.gate.wait(0.02):
                on_progress(0.01)  # raises once the worker cancels this render
            return super().generate(spec, on_progress)
        finally:
            with self._lock:
                self.rendering -= 1


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def _tasks(ctx: AppContext, ids: list[str]) -> list[task_rows.TaskRecord]:
    async with ctx.db.read() as conn:
        found = [await task_rows.get_task(conn, task_id) for task_id in ids]
    assert all(task is not None for task in found)
    return [task for task in found if task is not None]


async def _until(check: Callable[[], object]) -> None:
    async with asyncio.timeout(60):
        while not check():  # noqa: ASYNC110 - polling a condition another thread changes
            await asyncio.sleep(0.02)


async def _until_rows(
    ctx: AppContext, ids: list[str], check: Callable[[list[task_rows.TaskRecord]], bool]
) -> list[task_rows.TaskRecord]:
    async with asyncio.timeout(120):
        while not check(found := await _tasks(ctx, ids)):  # noqa: ASYNC110 - polling rows
            await asyncio.sleep(0.05)
    return found


async def _worker_row(ctx: AppContext, worker_id: str) -> dict[str, object] | None:
    async with ctx.db.read() as conn:
        row = (await conn.execute(select(workers).where(workers.c.id == worker_id))).first()
    return row._asdict() if row else None


def _states(found: list[task_rows.TaskRecord]) -> list[TaskState]:
    return [task.status for task in found]


async def _submit_many(ctx: AppContext, count: int, **fields: object) -> list[str]:
    owner = await account_with_key(ctx, "busy", credits=10_000)
    ids = []
    for i in range(count):
        ids.append(await submit(ctx, owner, prompt=f"kite {i}", **fields))
        await asyncio.sleep(0.002)  # queue order = submit order
    return ids


@asynccontextmanager
async def _three_rendering(ctx: AppContext) -> AsyncIterator[tuple[GatedEngine, Worker]]:
    """A worker with concurrency 3, its three slots rendering (held at the gate); at the end
    the gate opens and the worker stops."""
    engine = GatedEngine()
    worker = Worker(ctx, engine, concurrency=3)
    running = asyncio.create_task(worker.run())
    try:
        await _until(lambda: engine.rendering == 3)
        yield engine, worker
    finally:
        engine.gate.set()
        worker.stop()
        await asyncio.wait_for(running, 60)


async def test_a_worker_with_concurrency_3_runs_three_tasks_at_once(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 5)
    async with _three_rendering(ctx) as (engine, worker):
        found = await _tasks(ctx, ids)
        held = [t for t in found if t.status is TaskState.RUNNING]
        assert _states(found).count(TaskState.QUEUED) == 2
        assert [t.id for t in held] == ids[:3]  # the three oldest
        assert {t.lease_owner for t in held} == {worker.id}
        assert all(t.engine == "preview" for t in held)
        row = await _worker_row(ctx, worker.id)
        assert row is not None
        assert (row["concurrency"], row["tasks_in_hand"], row["state"]) == (3, 3, "busy")
        assert row["current_task_id"] in ids[:3]
        engine.gate.set()
        await _until_rows(ctx, ids, lambda f: all(t.status is TaskState.SUCCEEDED for t in f))
    assert engine.most_at_once == 3 and worker.completed == 5
    assert await _worker_row(ctx, worker.id) is None
    assert await ledger_consistent(ctx)


async def test_stop_finishes_every_task_in_hand_and_claims_no_more(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 4)
    async with _three_rendering(ctx) as (_engine, worker):
        worker.stop()
        await asyncio.sleep(0.5)  # several poll intervals: a free slot would have claimed by now
    assert _states(await _tasks(ctx, ids)) == [TaskState.SUCCEEDED] * 3 + [TaskState.QUEUED]


async def test_abort_hands_every_task_in_hand_back(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 3)
    async with _three_rendering(ctx) as (engine, worker):
        worker.stop()
        worker.abort()
        await _until(lambda: engine.rendering == 0)  # cancelled before the gate opened
    found = await _tasks(ctx, ids)
    assert _states(found) == [TaskState.QUEUED] * 3
    assert all(t.attempts == 0 and t.lease_owner is None and t.video_key is None for t in found)
    assert await balance(ctx, "busy") == 10_000 - 3 * 8  # still charged: they will run later


async def test_renders_do_not_wait_for_the_loops_default_threads(ctx: AppContext) -> None:
    """Each slot renders on a thread of the worker's own: the event loop's default pool (a few
    threads on a small machine, shared with uploads and DNS lookups) is not where they queue."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))
    await _submit_many(ctx, 3)
    async with _three_rendering(ctx) as (engine, _worker):
        assert engine.rendering == 3


async def test_a_failed_liveness_report_ends_neither_task_nor_worker(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _submit_many(ctx, 2)
    real_seen = worker_rows.worker_seen
    failures = 0

    async def flaky_seen(conn: AsyncConnection, worker_id: str, **values: object) -> None:
        nonlocal failures
        if values.get("in_hand"):  # the reports made when a task is claimed and done
            failures += 1
            raise OSError("the database went away for a moment")
        await real_seen(conn, worker_id, **values)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_rows, "worker_seen", flaky_seen)
    engine = GatedEngine()
    engine.gate.set()
    worker = Worker(ctx, engine, concurrency=2)
    await asyncio.wait_for(worker.run(max_tasks=2), 120)
    assert failures >= 2 and worker.completed == 2
    assert _states(await _tasks(ctx, ids)) == [TaskState.SUCCEEDED] * 2


async def test_max_tasks_counts_the_claims_of_every_slot(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 5)
    engine = GatedEngine()
    engine.gate.set()
    worker = Worker(ctx, engine, concurrency=3)
    await asyncio.wait_for(worker.run(max_tasks=4), 120)
    states = _states(await _tasks(ctx, ids))
    assert states == [TaskState.SUCCEEDED] * 4 + [TaskState.QUEUED]
    assert worker.completed == 4


async def test_each_task_has_its_own_lease(ctx: AppContext) -> None:
    """All leases are renewed while the tasks render; a lease lost on one task stops that
    render only, and the others finish."""
    ids = await _submit_many(ctx, 3)
    async with _three_rendering(ctx) as (engine, worker):
        first = {t.id: t.lease_expires_at for t in await _tasks(ctx, ids)}
        await asyncio.sleep(3 * ctx.settings.heartbeat_seconds)
        later = {t.id: t.lease_expires_at for t in await _tasks(ctx, ids)}
        assert all(later[i] > first[i] for i in ids)  # type: ignore[operator]
        async with ctx.db.write() as conn:  # another worker takes the middle one over
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == ids[1])
                .values(lease_owner="thief", lease_token=tasks.c.lease_token + 1)
            )
        await _until(lambda: engine.rendering == 2)
        engine.gate.set()
        found = await _until_rows(
            ctx, [ids[0], ids[2]], lambda f: all(t.status is TaskState.SUCCEEDED for t in f)
        )
        assert all(t.lease_owner == worker.id for t in found)
        stolen = (await _tasks(ctx, [ids[1]]))[0]
        assert stolen.status is TaskState.RUNNING and stolen.lease_owner == "thief"
        assert stolen.video_key is None


# --- a real `opendance worker --concurrency 3` process and its signals ---


def _start_worker(ctx: AppContext, *args: str) -> subprocess.Popen[bytes]:
    log = (ctx.settings.data_dir.parent / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "opendance", "worker", *args],
        env=opendance_env(ctx.settings.data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _worker_log(ctx: AppContext) -> str:
    path: Path = ctx.settings.data_dir.parent / "worker.log"
    return path.read_text(errors="replace") if path.exists() else ""


async def _until_three_render(ctx: AppContext, ids: list[str]) -> None:
    """The worker holds three tasks and all three have made progress."""

    def three_rendering(found: list[task_rows.TaskRecord]) -> bool:
        return sum(t.status is TaskState.RUNNING and t.progress > 0 for t in found) == 3

    await _until_rows(ctx, ids, three_rendering)


async def _exit_code(proc: subprocess.Popen[bytes], seconds: float) -> int:
    return await asyncio.to_thread(proc.wait, seconds)


async def test_sigterm_lets_a_concurrent_worker_finish_all_its_tasks(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 4, resolution="480p", duration=8)
    proc = _start_worker(ctx, "--concurrency", "3")
    try:
        await _until_three_render(ctx, ids)
        proc.send_signal(signal.SIGTERM)
        assert await _exit_code(proc, 120) == 0, _worker_log(ctx)
    finally:
        if proc.poll() is None:
            proc.kill()
    found = await _tasks(ctx, ids)
    assert _states(found) == [TaskState.SUCCEEDED] * 3 + [TaskState.QUEUED], _worker_log(ctx)
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(workers))).first() is None


async def test_a_second_signal_hands_all_tasks_in_hand_back(ctx: AppContext) -> None:
    ids = await _submit_many(ctx, 3, resolution="720p", duration=12)
    proc = _start_worker(ctx, "--concurrency", "3")
    try:
        await _until_three_render(ctx, ids)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert await _exit_code(proc, 60) == 0, _worker_log(ctx)
    finally:
        if proc.poll() is None:
            proc.kill()
    found = await _tasks(ctx, ids)
    assert _states(found) == [TaskState.QUEUED] * 3, _worker_log(ctx)
    assert all(t.attempts == 0 for t in found)
