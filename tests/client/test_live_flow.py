"""The SDK against a real server on loopback: preview engine, real MP4s, real errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.client import (
    AsyncClient,
    Client,
    DownloadProgress,
    InsufficientCredits,
    InvalidApiKey,
    InvalidDuration,
    RateLimited,
    RetryPolicy,
    Task,
    TaskNotFound,
    TaskStatus,
)
from opendance.client.webhooks import verify
from opendance.media.probe import check_output, probe_mp4
from opendance.net.addresses import AddressPolicy
from opendance.services.webhook_secrets import show_secret
from tests.client.fakes import FakeTime
from tests.conftest import make_settings
from tests.support.live import LiveServer
from tests.support.media import first_frame, png_bytes
from tests.support.receivers import Receiver


def test_generate_wait_and_download_a_real_video(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("sdk", 100)
    updates: list[Task] = []
    progress: list[DownloadProgress] = []
    with Client(server.url, key) as client:
        task = client.generate_and_wait(
            "a red kite over green hills",
            aspect_ratio="16:9",
            resolution="480p",
            duration=4,
            seed=11,
            poll=0.1,
            timeout=120,
            on_update=updates.append,
        )
        assert task.status is TaskStatus.SUCCESS and task.succeeded
        assert task.consumed_credits == 8 and task.error_message is None
        assert task.video_url is not None and task.video_url.startswith(server.url)
        assert task.request["duration"] == "4" and task.request["seed"] == 11
        assert task.created_at is not None and task.created_at.tzinfo is not None
        path = client.download(task.task_id, tmp_path / "kite.mp4", on_progress=progress.append)
    assert updates[0].status is TaskStatus.IN_PROGRESS and updates[-1] == task
    assert [u.progress for u in updates] == sorted(u.progress or 0 for u in updates)
    probe = probe_mp4(path)
    assert check_output(probe, width=864, height=480, fps=24, frame_count=96, audio=False) == []
    assert progress[-1] == DownloadProgress(path.stat().st_size, path.stat().st_size)
    assert len(progress) >= 2


async def test_async_client_does_the_same(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("async-sdk", 100)
    async with AsyncClient(server.url, key) as client:
        submitted = await client.generate("waves at dusk", resolution="480p", duration=4)
        assert (await client.status(submitted.task_id)).task_id == submitted.task_id
        task = await client.wait(submitted.task_id, poll=0.1, timeout=120)
        assert task.succeeded
        path = await client.download(task.task_id, tmp_path / "waves.mp4")
        with pytest.raises(TaskNotFound):
            await client.status("task_unknown")
    probe = probe_mp4(path)
    assert check_output(probe, width=640, height=640, fps=24, frame_count=96, audio=False) == []


def test_a_local_image_is_sent_inline_and_becomes_the_first_frame(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("painter", 100)
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes((20, 40, 230)))
    with Client(server.url, key) as client:
        task = client.generate_and_wait(
            "a blue wall", image=image, resolution="480p", duration=4, fixed_lens=True, poll=0.1
        )
        assert task.succeeded, task.error_message
        assert task.request["image_urls"][0].startswith("data:image/png;base64,")
        path = client.download(task.video_url or "", tmp_path / "wall.mp4")
    red, green, blue = first_frame(path)[240, 320]
    assert blue > 150 and red < 100 and green < 100


def test_real_server_errors_arrive_as_their_classes(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("poor", 5)
    with Client(api_only_server.url, key) as client:
        with pytest.raises(InsufficientCredits) as poor:
            client.generate("costly", resolution="720p", duration=8)
        with pytest.raises(InvalidDuration) as bad:
            client.generate("odd", duration=5)  # type: ignore[arg-type]
        with pytest.raises(TaskNotFound):
            client.status("task_doesnotexist")
    assert (poor.value.price, poor.value.balance, poor.value.status_code) == (28, 5, 402)
    assert bad.value.status_code == 400 and "4, 8 or 12" in bad.value.message
    assert bad.value.request_id
    with Client(api_only_server.url, "od_wrong") as stranger, pytest.raises(InvalidApiKey):
        stranger.status("task_x")


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, rate_limit_per_minute=2), with_worker=False).start()
    yield live
    live.stop()


def test_a_real_429_is_retried_after_its_retry_after_then_raised(limited: LiveServer) -> None:
    key = limited.create_account("eager", 100)
    fake = FakeTime()
    retry = RetryPolicy(attempts=3, jitter=0)
    with Client(limited.url, key, retry=retry, sleep=fake.sleep, clock=fake.clock) as client:
        task_id = client.generate("one", resolution="480p", duration=4).task_id
        client.status(task_id)
        with pytest.raises(RateLimited) as caught:
            client.status(task_id)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert fake.sleeps == [caught.value.retry_after] * 2


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[LiveServer]:
    # The receiver on 127.0.0.1 plays a public server: only that address is carved out.
    live = LiveServer(
        make_settings(tmp_path), policy=AddressPolicy.default(allow=["127.0.0.1/32"])
    ).start()
    yield live
    live.stop()


def test_a_real_webhook_verifies_with_the_account_secret(hooked: LiveServer) -> None:
    receiver = Receiver().start()
    try:
        key = hooked.create_account("receiver", 100)
        with Client(hooked.url, key) as client:
            task = client.generate_and_wait(
                "hook", resolution="480p", duration=4, callback_url=receiver.url, poll=0.1
            )
        deadline = time.monotonic() + 30
        while not receiver.received:
            assert time.monotonic() < deadline, "no webhook arrived"
            time.sleep(0.05)
        headers, body = receiver.received[0]
        secret = hooked.call(lambda c: show_secret(c, "receiver")).current
        event = verify(body, headers, secret)
        assert event["data"]["task_id"] == task.task_id
        assert event["data"] == json.loads(body)["data"]
        assert event["data"]["status"] == "SUCCESS"
    finally:
        receiver.stop()
