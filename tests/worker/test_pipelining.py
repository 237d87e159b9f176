"""A model worker's device never waits for the CPU tail: while task N is encoded, checked and
stored, its engine process already generates task N+1; at most one finished video waits per
device; cancel, lease loss and a killed engine process keep their guarantees in either phase.

The engine runs in a real spawned child (``ProcessHost``); its generation and its tail are
held and released by the test through files (``pipeline_engines``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db.tables import tasks as task_table
from opendance.domain.task_states import TaskState
from opendance.media.probe import check_output, probe_mp4
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.storage.local import LocalObjectStore
from opendance.worker.host import CRASH_MESSAGE, ProcessHost, ProcessHostPool, create_host
from opendance.worker.runner import Worker
from tests.support.db import balance, ledger_consistent
from tests.support.factories import account_with_key, submit
from tests.worker.pipeline_engines import gated_engine, gates_of

WAIT = 60.0  # a spawned child imports numpy and PyAV on a busy two-core machine


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings.model_copy(update={"engine_process": "process"}))
    yield context
    await context.close()


class Gates:
    """The test's side of the gated engine."""

    def __init__(self, settings: Settings) -> None:
        self.dir = gates_of(settings)
        self.dir.mkdir(parents=True, exist_ok=True)

    def open(self, phase: str, prompt: str) -> None:
        (self.dir / f"{phase}-{prompt}").touch()

    def events(self) -> list[str]:
        log = self.dir / "events.log"
        return log.read_text().splitlines() if log.exists() else []

    async def until(self, event: str) -> None:
        async with asyncio.timeout(WAIT):
            while event not in self.events():  # noqa: ASYNC110 - another process writes it
                await asyncio.sleep(0.02)


async def _record(ctx: AppContext, task_id: str) -> task_rows.TaskRecord:
    async with ctx.db.read() as conn:
        found = await task_rows.get_task(conn, task_id)
    assert found is not None
    return found


async def _until(check: Any) -> None:
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 - the worker's threads change it
            await asyncio.sleep(0.02)


async def _progress_at_least(ctx: AppContext, task_id: str, percent: int) -> bool:
    return (await _record(ctx, task_id)).progress >= percent


async def _status(ctx: AppContext, task_id: str) -> TaskState:
    return (await _record(ctx, task_id)).status


class GatedWorkers:
    """Workers over the gated engine, each in an engine process of its own; those a failed
    test leaves running are aborted at its end (their engine processes stop with them)."""

    def __init__(self) -> None:
        self.started: list[tuple[Worker, asyncio.Task[None]]] = []

    def start(
        self, ctx: AppContext, max_tasks: int
    ) -> tuple[Worker, ProcessHost, asyncio.Task[None]]:
        host = ProcessHost(
            ctx.settings, create_engine=gated_engine, pipelined=ctx.settings.pipeline_tail
        )
        worker = Worker(ctx, host)
        running = asyncio.create_task(worker.run(max_tasks=max_tasks))
        self.started.append((worker, running))
        return worker, host, running

    async def abort_left_over(self) -> None:
        for worker, running in self.started:
            if not running.done():
                worker.abort()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(running, WAIT)


@pytest.fixture
async def workers(ctx: AppContext) -> AsyncIterator[GatedWorkers]:
    started = GatedWorkers()
    yield started
    await started.abort_left_over()


def _at_most_one_waiting(events: list[str]) -> None:
    """Replaying the child's events: never two finished videos waiting for the tail, never
    two tails at once, never more than two jobs (one generating, one in its tail)."""
    counts = {"gen-start": 0, "gen-end": 0, "tail-start": 0, "tail-end": 0}
    for event in events:
        counts[event.split()[0]] += 1
        assert counts["gen-end"] - counts["tail-start"] <= 1, events
        assert counts["tail-start"] - counts["tail-end"] <= 1, events


async def _assert_valid_video(ctx: AppContext, task_id: str) -> None:
    record = await _record(ctx, task_id)
    assert record.status is TaskState.SUCCEEDED and record.progress == 100
    assert isinstance(ctx.store, LocalObjectStore) and record.video_key is not None
    probe = probe_mp4(ctx.store.path_for(record.video_key))
    assert check_output(probe, width=640, height=640, fps=24, frame_count=96, audio=False) == []


async def _finishing(running: Awaitable[None]) -> None:
    await asyncio.wait_for(running, WAIT)


async def test_the_next_task_generates_while_the_last_one_is_encoded(
    ctx: AppContext, workers: GatedWorkers, backend: str
) -> None:
    gates = Gates(ctx.settings)
    owner = await account_with_key(ctx, "pipe")
    first, second, third = [await submit(ctx, owner, prompt=p) for p in ("one", "two", "three")]
    worker, host, running = workers.start(ctx, max_tasks=3)
    assert worker.slots == 2  # one device: one slot generates, one finishes its tail
    await gates.until("gen-start one")
    gates.open("gen", "one")
    await gates.until("tail-start one")
    # the device took the next task while the first one's tail is held
    await gates.until("gen-start two")
    assert "tail-end one" not in gates.events()
    # its progress: the engine's share (0.85) done, the task not yet
    await _until(lambda: _progress_at_least(ctx, first, 85))
    in_tail = await _record(ctx, first)
    assert in_tail.status is TaskState.RUNNING and in_tail.progress < 100
    gates.open("gen", "two")
    await gates.until("gen-end two")
    # one finished video waits for the tail, holding its device: nothing more is claimed
    await asyncio.sleep(1.0)
    assert await _status(ctx, third) is TaskState.QUEUED
    assert "gen-start three" not in gates.events()
    gates.open("tail", "one")
    await gates.until("tail-start two")
    await gates.until("gen-start three")
    for phase in ("tail", "gen"):
        for prompt in ("two", "three"):
            gates.open(phase, prompt)
    await _finishing(running)
    for task_id in (first, second, third):
        await _assert_valid_video(ctx, task_id)
    _at_most_one_waiting(gates.events())
    assert host.starts == 1


async def test_cancels_stop_a_task_in_any_phase_and_the_device_goes_on(
    ctx: AppContext, workers: GatedWorkers
) -> None:
    gates = Gates(ctx.settings)
    owner = await account_with_key(ctx, "cancels", credits=100)
    ids = [await submit(ctx, owner, prompt=p) for p in ("t1", "t2", "t3", "t4")]
    price = (100 - await balance(ctx, "cancels")) // 4
    worker, host, running = workers.start(ctx, max_tasks=4)

    async def cancel(task_id: str) -> None:
        view = await tasks.cancel(ctx, owner.account_id, task_id)
        assert view.status is TaskState.CANCELLED
        await _until(lambda: _released(worker, task_id))

    gates.open("gen", "t1")
    await gates.until("tail-start t1")
    await gates.until("gen-start t2")
    await cancel(ids[1])  # while it generates
    await gates.until("gen-start t3")  # the device is free again
    gates.open("gen", "t3")
    await gates.until("gen-end t3")
    await cancel(ids[2])  # generated, waiting for the tail
    await cancel(ids[0])  # in its tail
    await gates.until("gen-start t4")
    gates.open("gen", "t4")
    gates.open("tail", "t4")
    await _finishing(running)
    assert [await _status(ctx, task_id) for task_id in ids[:3]] == [TaskState.CANCELLED] * 3
    await _assert_valid_video(ctx, ids[3])
    events = gates.events()
    assert "tail-end t1" not in events and "gen-end t2" not in events
    assert "tail-start t3" not in events  # its frames were dropped where they waited
    assert host.starts == 1  # a cancel costs no reload
    assert await balance(ctx, "cancels") == 100 - price  # three refunds
    assert await ledger_consistent(ctx)


async def _released(worker: Worker, task_id: str) -> bool:
    return all(held != task_id for held, _ in worker.in_hand)


async def test_a_lease_lost_during_the_tail_writes_nothing(
    ctx: AppContext, workers: GatedWorkers
) -> None:
    gates = Gates(ctx.settings)
    owner = await account_with_key(ctx, "robbed")
    robbed, other = [await submit(ctx, owner, prompt=p) for p in ("robbed", "other")]
    worker, _host, running = workers.start(ctx, max_tasks=2)
    gates.open("gen", "robbed")
    await gates.until("tail-start robbed")
    await gates.until("gen-start other")
    # another worker takes the task over (as after a reap and a new claim): new fencing token
    async with ctx.db.write() as conn:
        await conn.execute(
            update(task_table)
            .where(task_table.c.id == robbed)
            .values(lease_owner="thief", lease_token=task_table.c.lease_token + 1)
        )
    await _until(lambda: _released(worker, robbed))
    gates.open("tail", "robbed")  # too late: its tail was stopped
    gates.open("gen", "other")
    gates.open("tail", "other")
    await _finishing(running)
    after = await _record(ctx, robbed)
    assert after.status is TaskState.RUNNING and after.lease_owner == "thief"
    assert after.video_key is None
    await _assert_valid_video(ctx, other)


async def test_a_killed_engine_process_fails_both_tasks_in_hand_and_is_replaced(
    ctx: AppContext, workers: GatedWorkers, backend: str
) -> None:
    gates = Gates(ctx.settings)
    owner = await account_with_key(ctx, "crash", credits=100)
    encoding, generating, after = [
        await submit(ctx, owner, prompt=p) for p in ("encoding", "generating", "after")
    ]
    price = (100 - await balance(ctx, "crash")) // 3
    _worker, host, running = workers.start(ctx, max_tasks=3)
    gates.open("gen", "encoding")
    await gates.until("tail-start encoding")
    await gates.until("gen-start generating")
    pid = host.pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    for task_id in (encoding, generating):
        await _until(lambda t=task_id: _ended(ctx, t))
        record = await _record(ctx, task_id)
        assert record.status is TaskState.FAILED and record.error_message == CRASH_MESSAGE
    assert await balance(ctx, "crash") == 100 - 3 * price + 2 * price  # both refunded
    await gates.until("gen-start after")  # a new engine process took the next task
    gates.open("gen", "after")
    gates.open("tail", "after")
    await _finishing(running)
    await _assert_valid_video(ctx, after)
    assert host.starts == 2 and host.pid != pid
    assert await ledger_consistent(ctx)


async def _ended(ctx: AppContext, task_id: str) -> bool:
    return (await _status(ctx, task_id)).terminal


async def test_with_the_tail_pipelined_off_a_device_waits_for_its_task_s_tail(
    ctx: AppContext, workers: GatedWorkers
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"pipeline_tail": False})
    gates = Gates(ctx.settings)
    owner = await account_with_key(ctx, "serial")
    first, second = [await submit(ctx, owner, prompt=p) for p in ("first", "second")]
    worker, _host, running = workers.start(ctx, max_tasks=2)
    assert worker.slots == 1
    gates.open("gen", "first")
    await gates.until("tail-start first")
    await asyncio.sleep(1.0)
    assert await _status(ctx, second) is TaskState.QUEUED
    for phase in ("tail", "gen"):
        for prompt in ("first", "second"):
            gates.open(phase, prompt)
    await _finishing(running)
    events = gates.events()
    assert events.index("gen-start second") > events.index("tail-end first")
    for task_id in (first, second):
        await _assert_valid_video(ctx, task_id)


def test_the_tail_is_pipelined_for_model_engines_unless_turned_off(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    model = create_host(make_settings(tmp_path, engine="ltx2", worker_concurrency=2))
    assert model.pipelined  # nothing starts until start()
    serial = make_settings(tmp_path, engine="wan", pipeline_tail=False)
    assert not create_host(serial).pipelined
    # the preview makes its frames as the encoder takes them: nothing to overlap
    assert not create_host(make_settings(tmp_path, engine_process="process")).pipelined


async def test_the_preview_engine_in_pipelined_engine_processes_makes_valid_videos(
    tmp_path: Path, backend: str
) -> None:
    """The machinery is harmless for an engine whose frames are lazy: its device phase ends
    at once and its tail does the work."""
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, engine_process="process", worker_concurrency=2)
    ctx = await open_context(settings)
    try:
        owner = await account_with_key(ctx, "preview")
        ids = [await submit(ctx, owner, prompt=f"copy {i}") for i in range(5)]
        pool = ProcessHostPool([ProcessHost(settings, pipelined=True) for _ in range(2)])
        worker = Worker(ctx, pool)
        assert worker.slots == 4
        await worker.run(max_tasks=5)
        for task_id in ids:
            await _assert_valid_video(ctx, task_id)
        assert await ledger_consistent(ctx)
    finally:
        await ctx.close()
