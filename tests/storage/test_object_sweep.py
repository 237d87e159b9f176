"""The sweep of unreferenced objects, on the local store and on S3 (moto over HTTP): what a task
still points at stays, what no task refers to goes, nothing young is judged, nothing of another
shape is touched."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opendance.db import tasks as task_rows
from opendance.domain.task_view import Lease, ResultFiles
from opendance.services.context import AppContext
from opendance.services.object_sweep import sweep_unreferenced
from opendance.storage.base import ObjectNotFound, ObjectStore
from tests.storage.conftest import stored_keys
from tests.support.factories import account_with_key, submit
from tests.support.media import png_bytes
from tests.support.processes import cli

IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes((10, 120, 40))).decode()
LATER = datetime.now(UTC) + timedelta(hours=2)  # every object made by a test is an hour old
GONE = "task_" + "G" * 22  # a well-formed id no task has
# keys in the swept folders that no task id names: someone else's objects, never touched
STRANGERS = (
    "videos/README.txt",
    "videos/holiday-2019.mp4",
    "posters/cover-1.jpg",
    "sprites/strip.jpg",
    f"sprites/{GONE}-1.png",  # a worker's sprite sheets are JPEGs
    f"last_frames/{GONE}.png",  # and its files name their lease
    "inputs/logo.png",
)


async def _exists(store: ObjectStore, key: str) -> bool:
    try:
        await store.get_bytes(key)
    except ObjectNotFound:
        return False
    return True


async def _claim_twice(ctx: AppContext, task_id: str) -> int:
    """Claimed, given up (as by a killed worker) and claimed again: the lease token now."""
    async with ctx.db.write() as conn:
        first = await task_rows.claim_next(conn, owner="w1", lease_seconds=60)
        assert first is not None and first.id == task_id
        assert await task_rows.release(conn, Lease(task_id, first.lease_token, "w1"))
        second = await task_rows.claim_next(conn, owner="w2", lease_seconds=60)
        assert second is not None and second.lease_token == first.lease_token + 1
    return second.lease_token


# a worker's files, by folder: the size each is stored with
SIZES = {"videos": 1000, "posters": 100, "sprites": 200, "last_frames": 300}


async def _put_results(store: ObjectStore, *files: ResultFiles) -> None:
    for made in files:
        for key in made.keys:
            await store.put_bytes(key, b"\x00" * SIZES[key.split("/")[0]], "application/x-test")


async def _scene(ctx: AppContext) -> dict[str, Any]:
    """A finished task with a killed lease's uploads beside its own; a running task with the
    uploads of its current lease (not committed yet) and of its killed lease; a task finished
    before sprite sheets and last frames were made, with those of its lease beside the files it
    refers to; a queued and a failed task with their input images; uploads for a task that never
    existed; and objects of other shapes."""
    owner = await account_with_key(ctx, "sweeper")
    done = await submit(ctx, owner, prompt="done")
    token = await _claim_twice(ctx, done)
    async with ctx.db.write() as conn:
        await task_rows.complete(conn, Lease(done, token, "w2"), ResultFiles.made_by(done, token))
    running = await submit(ctx, owner, prompt="running")
    assert await _claim_twice(ctx, running) == 2
    older = await submit(ctx, owner, prompt="older")
    async with ctx.db.write() as conn:
        claimed = await task_rows.claim_next(conn, owner="w1", lease_seconds=60)
        assert claimed is not None and claimed.id == older
        video_and_poster = ResultFiles(f"videos/{older}-1.mp4", f"posters/{older}-1.jpg")
        await task_rows.complete(conn, Lease(older, 1, "w1"), video_and_poster)
    waiting = await submit(ctx, owner, prompt="waiting", image_urls=[IMAGE])
    failed = await submit(ctx, owner, prompt="failed", image_urls=[IMAGE])
    async with ctx.db.write() as conn:
        assert await task_rows.fail(conn, failed, "the engine gave up")
    results = {
        (task_id, lease): ResultFiles.made_by(task_id, lease)
        for task_id in (done, running, older, GONE)
        for lease in (1, 2)
    }
    await _put_results(
        ctx.store,
        *(results[done, lease] for lease in (1, 2)),
        *(results[running, lease] for lease in (1, 2)),
        results[older, 1],
        results[GONE, 1],
    )
    for key in STRANGERS:
        await ctx.store.put_bytes(key, b"not ours", "application/octet-stream")
    return {
        "kept": sorted(
            [
                *results[done, 2].keys,  # what the task refers to
                *results[running, 2].keys,  # the uploads of the lease running it
                *video_and_poster.keys,
                f"inputs/{waiting}",
            ]
        ),
        "orphans": sorted(
            [
                *results[done, 1].keys,
                *results[running, 1].keys,
                *(key for key in results[older, 1].keys if key not in video_and_poster.keys),
                *results[GONE, 1].keys,
                f"inputs/{failed}",
            ]
        ),
    }


async def test_objects_no_task_refers_to_are_deleted_and_the_rest_stay(ctx: AppContext) -> None:
    scene = await _scene(ctx)
    everything = await stored_keys(ctx.store)

    young = await sweep_unreferenced(ctx, min_age=timedelta(hours=3), now=LATER)
    assert young.deleted == [] and young.too_young == young.examined == len(everything)

    preview = await sweep_unreferenced(ctx, dry_run=True, now=LATER)
    assert sorted(preview.deleted) == scene["orphans"] and preview.dry_run
    assert await stored_keys(ctx.store) == everything  # a dry run deletes nothing

    report = await sweep_unreferenced(ctx, now=LATER)
    assert sorted(report.deleted) == scene["orphans"]
    assert {key.split("/")[0] for key in report.deleted} == {*SIZES, "inputs"}
    assert report.deleted_bytes == len(png_bytes((10, 120, 40))) + sum(
        SIZES[key.split("/")[0]] for key in scene["orphans"] if not key.startswith("inputs/")
    )
    kept = len(scene["kept"])
    assert (report.kept, report.not_ours, report.too_young) == (kept, len(STRANGERS), 0)
    assert await stored_keys(ctx.store) == sorted([*scene["kept"], *STRANGERS])
    for key in scene["orphans"]:
        assert not await _exists(ctx.store, key)

    again = await sweep_unreferenced(ctx, now=LATER)
    assert again.deleted == [] and again.kept == kept


def test_the_cli_sweeps_and_says_what_it_did(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    orphan = data_dir / "objects" / "videos" / f"{GONE}-1.mp4"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"\x00" * 10)
    old = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(orphan, (old, old))

    listed = cli(data_dir, "storage", "sweep", "--dry-run")
    assert f"would delete videos/{GONE}-1.mp4" in listed.stdout and orphan.exists()
    kept = json.loads(cli(data_dir, "storage", "sweep", "--min-age", "3h", "--json").stdout)
    assert (kept["deleted"], kept["too_young"]) == ([], 1) and orphan.exists()
    done = json.loads(cli(data_dir, "storage", "sweep", "--json").stdout)
    assert done["deleted"] == [f"videos/{GONE}-1.mp4"] and done["deleted_bytes"] == 10
    assert not orphan.exists()

    bad = cli(data_dir, "storage", "sweep", "--min-age", "soon", check=False)
    assert bad.returncode == 2 and "not an age like 30m, 1h or 2d" in bad.stderr
