"""Tasks through the task service and a real worker (preview engine, local store): the MP4 at
the exact size asked for, its sprite sheet and last frame stored beside it, an adaptive aspect
ratio taken from the first frame, and nothing left behind when the result is not kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from opendance.bootstrap import open_context
from opendance.db import tasks as task_rows
from opendance.domain import presets
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_request import TaskRequest, inline_image_stand_in
from opendance.domain.task_states import TaskState
from opendance.engines.preview import PreviewEngine
from opendance.net.addresses import AddressPolicy
from opendance.net.data_urls import DataImage
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.tasks import NewTask
from opendance.settings import Settings
from opendance.storage.base import ObjectNotFound
from opendance.worker.runner import STORAGE_FAILURE, Worker
from tests.media.test_stills import image_rgb
from tests.storage.conftest import stored_keys
from tests.support.factories import account_with_key
from tests.support.media import first_frame, image_size, png_bytes, psnr

PORTRAIT = png_bytes((30, 60, 200), size=(720, 1280))
LANDSCAPE = png_bytes((200, 120, 20), size=(800, 600))


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    # the image host on 127.0.0.1 plays a public server: only that address is carved out
    context = await open_context(settings, policy=AddressPolicy.default(allow=["127.0.0.1/32"]))
    yield context
    await context.close()


@pytest.fixture
def image_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PORTRAIT)))
            self.end_headers()
            self.wfile.write(PORTRAIT)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/portrait.png"
    httpd.shutdown()


def _request(**fields: Any) -> TaskRequest:
    values: dict[str, Any] = {
        "prompt": "a cable car climbing into the clouds",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": 4,
        "generate_audio": False,
        "fixed_lens": False,
        "seed": 21,
    }
    values.update(fields)
    return TaskRequest(**values)


async def _run(ctx: AppContext, owner: KeyOwner, new: NewTask) -> task_rows.TaskRecord:
    task_id = await tasks.submit(ctx, owner, new)
    await Worker(ctx, PreviewEngine()).run(max_tasks=1)
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    assert task is not None
    return task


async def _saved(ctx: AppContext, key: str | None, path: Path) -> Path:
    assert key is not None
    await asyncio.to_thread(path.write_bytes, await ctx.store.get_bytes(key))
    return path


async def test_the_video_has_the_exact_output_size_and_its_stills_are_stored(
    ctx: AppContext, tmp_path: Path
) -> None:
    owner = await account_with_key(ctx, "sizer")
    request = _request(resolution="720p", generate_audio=True, output_size=(1280, 720))
    task = await _run(ctx, owner, NewTask(request))
    assert task.status is TaskState.SUCCEEDED, task.error_message
    assert (task.sprite_key, task.last_frame_key) == (
        f"sprites/{task.id}-1.jpg",
        f"last_frames/{task.id}-1.png",
    )

    video = await _saved(ctx, task.video_key, tmp_path / "v.mp4")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert stream.average_rate == 24 and len(container.streams.audio) == 1
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 96  # 4 s at 24 fps
    assert {frame.shape for frame in frames} == {(720, 1280, 3)}

    sprite = await ctx.store.get_bytes(task.sprite_key or "")
    assert image_size(sprite, "JPEG") == (800, 450)  # 5x5 tiles of 160x90
    last = image_rgb(await ctx.store.get_bytes(task.last_frame_key or ""), "PNG")
    assert last.shape == (720, 1280, 3)
    assert psnr(last, frames[-1]) > 35
    assert psnr(last, frames[-2]) < psnr(last, frames[-1])  # the last one, not a neighbour
    assert image_size(await ctx.store.get_bytes(task.poster_key or ""), "JPEG") == (1280, 720)


async def test_an_adaptive_ratio_follows_the_fetched_first_frame(
    ctx: AppContext, tmp_path: Path, image_url: str
) -> None:
    owner = await account_with_key(ctx, "adapter")
    request = _request(aspect_ratio=presets.ADAPTIVE, image_url=image_url)
    task = await _run(ctx, owner, NewTask(request))
    assert task.status is TaskState.SUCCEEDED, task.error_message
    video = await _saved(ctx, task.video_key, tmp_path / "v.mp4")
    first = first_frame(video)
    assert first.shape == (864, 480, 3)  # 9:16 at 480p, as the portrait image
    assert task.request.aspect_ratio == "9:16"  # what was made is recorded
    centre = first[300:560, 100:380].reshape(-1, 3).astype(int).mean(axis=0)
    assert np.abs(centre - np.array([30, 60, 200])).max() < 25
    last = image_rgb(await ctx.store.get_bytes(task.last_frame_key or ""), "PNG")
    assert last.shape == (864, 480, 3)


async def test_an_adaptive_ratio_follows_an_uploaded_image_and_is_16_9_without_one(
    ctx: AppContext, tmp_path: Path
) -> None:
    owner = await account_with_key(ctx, "uploader")
    inline = NewTask(
        _request(
            aspect_ratio=presets.ADAPTIVE,
            image_url=inline_image_stand_in("image/png", len(LANDSCAPE)),
        ),
        inline_image=DataImage("image/png", LANDSCAPE),
    )
    with_image = await _run(ctx, owner, inline)
    without = await _run(ctx, owner, NewTask(_request(aspect_ratio=presets.ADAPTIVE)))
    for task, shape, ratio in (
        (with_image, (544, 736, 3), "4:3"),
        (without, (480, 864, 3), "16:9"),
    ):
        assert task.status is TaskState.SUCCEEDED, task.error_message
        assert task.request.aspect_ratio == ratio
        assert (
            first_frame(await _saved(ctx, task.video_key, tmp_path / f"{task.id}.mp4")).shape
            == shape
        )


async def test_a_store_that_refuses_one_file_leaves_none_of_them(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await account_with_key(ctx, "unlucky")
    real_put = ctx.store.put_bytes

    async def refusing(key: str, data: bytes, content_type: str) -> None:
        if key.startswith("last_frames/"):
            raise OSError("the disk is full")
        await real_put(key, data, content_type)

    monkeypatch.setattr(ctx.store, "put_bytes", refusing)
    task = await _run(ctx, owner, NewTask(_request()))
    assert task.status is TaskState.FAILED and task.error_message == STORAGE_FAILURE
    assert await stored_keys(ctx.store) == []


async def test_a_result_whose_lease_was_lost_is_deleted(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await account_with_key(ctx, "late")
    written: list[str] = []

    async def lease_lost(ctx: AppContext, task: Any, files: Any, **_: Any) -> bool:
        written.extend(files.keys)
        for key in files.keys:  # the files were all there when the completion was refused
            await ctx.store.get_bytes(key)
        return False

    monkeypatch.setattr(tasks, "complete", lease_lost)
    task = await _run(ctx, owner, NewTask(_request()))
    assert task.status is TaskState.RUNNING  # another worker's now, as far as this one knows
    assert [key.split("/")[0] for key in written] == ["videos", "posters", "sprites", "last_frames"]
    for key in written:
        with pytest.raises(ObjectNotFound):
            await ctx.store.get_bytes(key)
