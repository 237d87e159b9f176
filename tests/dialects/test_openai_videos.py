"""The OpenAI Videos door end to end, driven by the official SDK against a live server whose
worker renders with the preview engine: create, poll, download, remix, delete, webhooks."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from opendance.media.probe import check_output, probe_mp4
from opendance.net.addresses import AddressPolicy
from opendance.storage.base import ObjectNotFound
from tests.conftest import make_settings
from tests.dialects.openai_support import (
    SORA_DEPRECATION,
    SentRequests,
    error_of,
    sdk,
    task_of,
    wait_until_done,
)
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer
from tests.support.media import first_frame, image_size, png_bytes, psnr
from tests.support.receivers import Receiver

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)

RED = (220, 30, 30)


def _save(content: bytes, path: Path) -> Path:
    path.write_bytes(content)
    return path


def test_a_multipart_create_with_an_uploaded_first_frame_completes_and_downloads(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("fox", 100)
    sent = SentRequests()
    client = sdk(server, key, sent=sent)
    created = client.videos.create(
        prompt="a red fox in snow",
        size="864x480",
        seconds="4",
        input_reference=("frame.png", png_bytes(RED, (640, 360)), "image/png"),
        extra_body={"seed": 7, "fixed_lens": True},
    )
    assert sent.seen[0][:2] == ("POST", "/v1/videos")
    assert sent.seen[0][2].startswith("multipart/form-data; boundary=")
    assert (created.status, created.progress, created.model) == ("queued", 0, "sora-2")
    assert (created.size, created.seconds, created.prompt) == ("864x480", "4", "a red fox in snow")
    assert created.completed_at is None and created.error is None

    done = client.videos.poll(created.id)  # sleeps as long as openai-poll-after-ms says
    assert (done.id, done.status, done.progress) == (created.id, "completed", 100)
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert done.expires_at is None  # no retention configured

    video = _save(client.videos.download_content(done.id).content, tmp_path / "v.mp4")
    probe = probe_mp4(video)
    assert check_output(probe, width=864, height=480, fps=24, frame_count=96, audio=False) == []
    start = first_frame(video)
    assert psnr(start, np.full_like(start, RED)) > 30  # it starts from the uploaded image
    thumbnail = client.videos.download_content(done.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).size == (864, 480)
    task = task_of(server, "fox", done.id)
    assert task.request.seed == 7 and task.request.fixed_lens
    assert task.request.image_url is not None and task.request.image_url.startswith("data:")
    if task.sprite_key is None:  # no spritesheet made: 404 as OpenAI answers a missing asset
        with pytest.raises(openai.NotFoundError) as missing:
            client.videos.download_content(done.id, variant="spritesheet")
        assert missing.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    else:
        sheet = client.videos.download_content(done.id, variant="spritesheet")
        assert sheet.content[:3] == b"\xff\xd8\xff"

    # a remix starts from the same image: the upload is gone, the video's first frame stands in
    remix = client.videos.remix(done.id, prompt="a red fox in rain")
    assert (remix.remixed_from_video_id, remix.prompt) == (done.id, "a red fox in rain")
    assert (remix.status, remix.size, remix.seconds) == ("queued", "864x480", "4")
    assert wait_until_done(client, remix.id).status == "completed"
    remixed = task_of(server, "fox", remix.id)
    assert (remixed.request.seed, remixed.request.fixed_lens) == (7, True)
    assert remixed.remixed_from == done.id
    again = _save(client.videos.download_content(remix.id).content, tmp_path / "r.mp4")
    assert psnr(first_frame(again), start) > 30
    assert server.call(lambda c: balance(c, "fox")) == 100 - 8 - 8  # a remix is priced as new
    assert server.call(ledger_consistent)


def test_a_json_create_as_sdks_before_2_27_send_it(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("old-sdk", 100)
    body = {"prompt": "a lighthouse at dusk", "model": "sora-2-pro", "seconds": "4"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "create-1"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post("/v1/videos", json={**body, "size": "480x864"}, headers=headers)
        assert created.status_code == 200, created.text
        video = created.json()
        assert (video["object"], video["status"], video["model"]) == (
            "video",
            "queued",
            "sora-2-pro",
        )
        polled = http.get(f"/v1/videos/{video['id']}", headers=headers)
        assert polled.headers["openai-poll-after-ms"] == "1000"
        done = wait_until_done(sdk(server, key), video["id"])
        assert (done.status, done.model, done.size) == ("completed", "sora-2-pro", "480x864")
        finished = http.get(f"/v1/videos/{video['id']}", headers=headers)
        assert "openai-poll-after-ms" not in finished.headers
        # the same create again answers what the first answered, and makes nothing
        replay = http.post("/v1/videos", json={**body, "size": "480x864"}, headers=headers)
        assert replay.status_code == 200 and replay.json() == video
    content = sdk(server, key).videos.download_content(video["id"])
    assert content.response.headers["content-type"] == "video/mp4"
    assert int(content.response.headers["content-length"]) == len(content.content)
    probe = probe_mp4(_save(content.content, tmp_path / "v.mp4"))
    assert check_output(probe, width=480, height=864, fps=24, frame_count=96, audio=False) == []
    assert server.call(lambda c: balance(c, "old-sdk")) == 100 - 8


@pytest.mark.parametrize(("size", "price"), [("854x480", 8), ("1280x720", 14)])
def test_the_mp4_has_exactly_the_requested_size(
    server: LiveServer, tmp_path: Path, size: str, price: int
) -> None:
    key = server.create_account("exact", 100)
    client = sdk(server, key)
    created = client.videos.create(prompt="exact size", size=size, seconds="4")  # type: ignore[arg-type]
    done = wait_until_done(client, created.id)
    assert (done.status, done.size) == ("completed", size)
    assert server.call(lambda c: balance(c, "exact")) == 100 - price  # priced as its preset
    width, height = (int(side) for side in size.split("x"))
    video = _save(client.videos.download_content(done.id).content, tmp_path / "v.mp4")
    assert (
        check_output(
            probe_mp4(video), width=width, height=height, fps=24, frame_count=96, audio=False
        )
        == []
    )
    # the stills are of the video delivered: the thumbnail its size, the sheet's tiles its shape
    thumbnail = client.videos.download_content(done.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"] == "image/jpeg"
    assert image_size(thumbnail.content, "JPEG") == (width, height)
    sheet = client.videos.download_content(done.id, variant="spritesheet")
    assert sheet.response.headers["content-type"] == "image/jpeg"
    assert image_size(sheet.content, "JPEG") == (800, 5 * round(160 * height / width))


def test_deleting_a_finished_video_removes_it_and_its_files(server: LiveServer) -> None:
    key = server.create_account("tidy", 100)
    client = sdk(server, key)
    done = wait_until_done(client, client.videos.create(prompt="gone soon", size="864x480").id)
    task = task_of(server, "tidy", done.id)
    assert None not in (task.video_key, task.poster_key, task.sprite_key, task.last_frame_key)
    deleted = client.videos.delete(done.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (done.id, "video.deleted", True)
    for call in (
        lambda: client.videos.retrieve(done.id),
        lambda: client.videos.download_content(done.id),
        lambda: client.videos.delete(done.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert [video.id for video in client.videos.list()] == []
    for file_key in (task.video_key, task.poster_key, task.sprite_key, task.last_frame_key):
        with pytest.raises(ObjectNotFound):
            server.call(lambda c, k=file_key: c.store.open_read(k))
    assert server.call(lambda c: balance(c, "tidy")) == 100 - 8  # a made video stays paid for


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[LiveServer]:
    # the receiver on 127.0.0.1 plays a public server: only that address is carved out
    settings = make_settings(tmp_path, webhook_retry_schedule="0.2s")
    live = LiveServer(settings, policy=AddressPolicy.default(allow=["127.0.0.1/32"])).start()
    yield live
    live.stop()


def test_the_webhook_of_a_video_is_its_video_object(hooked: LiveServer) -> None:
    receiver = Receiver().start()
    try:
        key = hooked.create_account("hooked", 100)
        client = sdk(hooked, key)
        created = client.videos.create(
            prompt="ring me", size="864x480", extra_body={"callback_url": receiver.url}
        )
        done = wait_until_done(client, created.id)
        deadline = time.monotonic() + 30
        while not receiver.received:
            assert time.monotonic() < deadline, "no webhook"
            time.sleep(0.05)
        _, body = receiver.received[0]
        with hooked.client(key) as http:
            polled = http.get(f"/v1/videos/{done.id}").json()
        assert json.loads(body) == polled and polled["status"] == "completed"
    finally:
        receiver.stop()


def test_an_unfinished_video_has_no_content_and_cannot_be_remixed(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("early", 100)
    client = sdk(api_only_server, key)
    queued = client.videos.create(prompt="not yet", size="864x480")
    with pytest.raises(openai.NotFoundError) as no_content:
        client.videos.download_content(queued.id)
    with pytest.raises(openai.BadRequestError) as no_remix:
        client.videos.remix(queued.id, prompt="later")
    assert "completed" in no_content.value.message
    assert "only a completed video can be remixed" in no_remix.value.message
    with httpx.Client(base_url=api_only_server.url) as http:
        answer = http.get(
            f"/v1/videos/{queued.id}/content", headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 404 and error_of(answer)["code"] == "not_found"
    assert api_only_server.call(lambda c: balance(c, "early")) == 100 - 8  # no remix charged
