"""An idle worker claims a new task at once, not at its next poll: LISTEN/NOTIFY on PostgreSQL,
the wake sockets next to the database file on SQLite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.db import wakeups
from opendance.db.wake_sockets import WakeSender, channel_dir
from opendance.db.wakeups import TaskListener, notify_queued
from opendance.domain.task_states import TaskState
from opendance.engines.preview import PreviewEngine
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.worker.runner import Worker
from tests.support.factories import account_with_key, submit

POLL_SECONDS = 30.0  # far longer than the test waits: only a notification can wake the worker


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings.model_copy(update={"poll_seconds": POLL_SECONDS}))
    yield context
    await context.close()


async def _status(ctx: AppContext, task_id: str) -> TaskState:
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    assert task is not None
    return task.status


async def test_an_idle_worker_wakes_when_a_task_is_submitted(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "eager")
    worker = Worker(ctx, PreviewEngine())
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(15):
            while not worker._listener.listening:  # noqa: ASYNC110 - waiting for start-up
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the first (empty) claim is done; the worker waits now
        submitted = time.monotonic()
        task_id = await submit(ctx, owner)
        async with asyncio.timeout(10):
            while await _status(ctx, task_id) is TaskState.QUEUED:  # noqa: ASYNC110 - a row
                await asyncio.sleep(0.02)
        assert time.monotonic() - submitted < 5
        assert await _listeners(ctx) == 1
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)


async def _listeners(ctx: AppContext) -> int:
    """PostgreSQL: connections of this database whose last statement was a LISTEN, as the
    server sees it; SQLite: sockets in the wake channel's directory."""
    if ctx.db.is_sqlite:
        directory = channel_dir(ctx.db.url)
        assert directory is not None
        return len(list(directory.glob("*.sock"))) if directory.is_dir() else 0
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN %'"
    )
    async with ctx.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_with_queue_notify_off_a_worker_does_not_listen_and_polls(
    settings: Settings,
) -> None:
    polling = settings.model_copy(update={"poll_seconds": 0.3, "queue_notify": False})
    ctx = await open_context(polling)
    owner = await account_with_key(ctx, "patient")
    worker = Worker(ctx, PreviewEngine())
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # long enough to have started listening, were it on
        assert not worker._listener.listening
        assert await _listeners(ctx) == 0
        task_id = await submit(ctx, owner)
        async with asyncio.timeout(10):
            while await _status(ctx, task_id) is TaskState.QUEUED:  # noqa: ASYNC110 - a row
                await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)
        await ctx.close()


class _Rollback(Exception):
    pass


async def _notify_then_roll_back(ctx: AppContext) -> None:
    async with ctx.db.write() as conn:
        await notify_queued(conn)
        raise _Rollback


@pytest.mark.only_on("postgresql")
async def test_notifications_arrive_on_commit_only(ctx: AppContext) -> None:
    received = asyncio.Event()
    listener = TaskListener(ctx.db, received.set)
    await listener.ensure()
    try:
        assert listener.listening
        received.clear()

        with pytest.raises(_Rollback):
            await _notify_then_roll_back(ctx)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(received.wait(), 0.5)
        async with ctx.db.write() as conn:
            await notify_queued(conn)
        await asyncio.wait_for(received.wait(), 5)
    finally:
        await listener.close()
    assert not listener.listening


@pytest.mark.only_on("sqlite")
async def test_a_worker_joins_the_channel_again_after_its_socket_was_removed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wakeups, "RECONNECT_SECONDS", 0.0)
    ctx = await open_context(settings.model_copy(update={"poll_seconds": 1.0}))
    worker = Worker(ctx, PreviewEngine())
    running = asyncio.create_task(worker.run())
    directory = channel_dir(ctx.db.url)
    assert directory is not None
    try:
        async with asyncio.timeout(15):
            while not worker._listener.listening:  # noqa: ASYNC110 - waiting for start-up
                await asyncio.sleep(0.05)
        joined = set(directory.glob("*.sock"))
        for sock in joined:
            sock.unlink()  # say an operator cleaned the data directory up
        assert not worker._listener.listening
        # wake-ups cannot reach it now; its next poll finds it out of the channel
        async with asyncio.timeout(15):
            while not worker._listener.listening:  # noqa: ASYNC110 - waiting for a rejoin
                await asyncio.sleep(0.05)
        assert set(directory.glob("*.sock")) == joined  # bound again, under its own name
        assert WakeSender(directory).send() == 1
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)
        await ctx.close()
