"""Claims by capability on a real database (SQLite, PostgreSQL): a worker takes the oldest
queued task it can serve, records what served it, and leaves the rest for others."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.domain.task_states import TaskState
from opendance.engines.base import EngineCapabilities
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.support.factories import account_with_key, submit
from tests.support.media import png_bytes

TEXT_ONLY = EngineCapabilities(audio=False, image_to_video=False)
AUDIO_ONLY = EngineCapabilities(audio=True, image_to_video=False)
IMAGE_ONLY = EngineCapabilities(audio=False, image_to_video=True)
EVERYTHING = EngineCapabilities(audio=True, image_to_video=True)


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def _claim(
    ctx: AppContext, owner: str, capabilities: EngineCapabilities, **identity: str
) -> task_rows.TaskRecord | None:
    async with ctx.db.write() as conn:
        return await task_rows.claim_next(
            conn, owner=owner, lease_seconds=30, capabilities=capabilities, **identity
        )


async def _get(ctx: AppContext, task_id: str) -> task_rows.TaskRecord:
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    assert task is not None
    return task


def _inline_image() -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes((200, 30, 30))).decode()


async def _queue(ctx: AppContext, *kinds: str) -> list[str]:
    """Submit one task per kind, oldest first: plain, audio, image (inline), url (http image)."""
    owner = await account_with_key(ctx, "mixed", credits=10_000)
    fields = {
        "plain": {},
        "audio": {"generate_audio": True},
        "image": {"image_urls": [_inline_image()]},
        "url": {"image_urls": ["https://img.example/first.png"]},
        "both": {"generate_audio": True, "image_urls": [_inline_image()]},
    }
    ids = []
    for kind in kinds:
        ids.append(await submit(ctx, owner, prompt=kind, **fields[kind]))
        await asyncio.sleep(0.002)  # distinct created_at: the queue order is the submit order
    return ids


async def test_a_worker_without_audio_skips_audio_tasks_and_takes_the_next_it_can_serve(
    ctx: AppContext,
) -> None:
    audio_first, audio_second, plain = await _queue(ctx, "audio", "audio", "plain")
    taken = await _claim(ctx, "silent", TEXT_ONLY)
    assert taken is not None and taken.id == plain
    assert await _claim(ctx, "silent", TEXT_ONLY) is None
    for task_id in (audio_first, audio_second):
        assert (await _get(ctx, task_id)).status is TaskState.QUEUED
    # a worker with audio takes them, oldest first
    first = await _claim(ctx, "loud", AUDIO_ONLY)
    second = await _claim(ctx, "loud", AUDIO_ONLY)
    assert first is not None and second is not None
    assert (first.id, second.id) == (audio_first, audio_second)
    assert first.lease_owner == "loud" and first.needs_audio and not first.needs_image


async def test_image_tasks_go_only_to_image_to_video_workers(ctx: AppContext) -> None:
    inline, url, both, plain = await _queue(ctx, "image", "url", "both", "plain")
    needs = {
        task_id: ((t := await _get(ctx, task_id)).needs_audio, t.needs_image)
        for task_id in (inline, url, both, plain)
    }
    assert needs == {
        inline: (False, True),
        url: (False, True),
        both: (True, True),
        plain: (False, False),
    }
    audio_worker = await _claim(ctx, "audio", AUDIO_ONLY)
    assert audio_worker is not None and audio_worker.id == plain
    assert await _claim(ctx, "audio", AUDIO_ONLY) is None
    # an image-to-video worker without audio takes the image tasks, not the one with sound
    taken = [await _claim(ctx, "i2v", IMAGE_ONLY) for _ in range(3)]
    assert [t.id if t else None for t in taken] == [inline, url, None]
    full = await _claim(ctx, "full", EVERYTHING)
    assert full is not None and full.id == both


async def test_a_claim_records_the_engine_and_model_that_run_the_task(ctx: AppContext) -> None:
    (task_id,) = await _queue(ctx, "plain")
    queued = await _get(ctx, task_id)
    assert queued.engine is None and queued.model is None
    claimed = await _claim(ctx, "gpu-1", EVERYTHING, engine="wan", model="Wan2.2-TI2V-5B")
    assert claimed is not None
    assert (claimed.engine, claimed.model) == ("wan", "Wan2.2-TI2V-5B")
    assert ((await _get(ctx, task_id)).engine, (await _get(ctx, task_id)).model) == (
        "wan",
        "Wan2.2-TI2V-5B",
    )


async def test_racing_workers_of_different_kinds_claim_each_task_once(ctx: AppContext) -> None:
    ids = await _queue(ctx, *(["audio", "plain", "image", "both"] * 3))
    kinds = [TEXT_ONLY, AUDIO_ONLY, IMAGE_ONLY, EVERYTHING] * 5
    claims = await asyncio.gather(*[_claim(ctx, f"w{i}", c) for i, c in enumerate(kinds)])
    claimed = [c.id for c in claims if c is not None]
    assert len(claimed) == len(set(claimed)) and set(claimed) <= set(ids)  # none twice
    for claim, capabilities in zip(claims, kinds, strict=True):
        if claim is not None:
            assert capabilities.audio or not claim.needs_audio
            assert capabilities.image_to_video or not claim.needs_image
    # Claims are greedy (the oldest task a worker can serve), so depending on who came first
    # the workers that can do everything may have taken plain tasks and left tasks only they
    # serve; those wait for the next claims, and no task was lost or given out twice.
    rest = []
    while (more := await _claim(ctx, f"late{len(rest)}", EVERYTHING)) is not None:
        rest.append(more.id)
    assert sorted(claimed + rest) == sorted(ids)


@pytest.mark.parametrize("capabilities", [TEXT_ONLY, AUDIO_ONLY, EVERYTHING])
async def test_the_claim_walks_the_queue_index_in_order(
    ctx: AppContext, capabilities: EngineCapabilities
) -> None:
    """Whatever the worker skips, the claim reads the queued rows along the index in claim
    order (no sort, no scan of finished tasks) and stops at the first it can serve."""
    query = task_rows.oldest_servable(capabilities)
    async with ctx.db.write() as conn:
        sql = str(query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if ctx.db.is_sqlite:
            plan = " ".join(
                str(row[-1]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
        else:
            # an empty table is cheapest to scan whole: ask whether the index can be used
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(row[0]) for row in await conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "ix_tasks_queue" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
