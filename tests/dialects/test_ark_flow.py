"""Ark's SDK, unmodified, against a live server with the preview engine: create, poll until
succeeded, and the MP4 itself (on SQLite and PostgreSQL: the poll is the hot read)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.ark import TASKS, ark_client, png_data_url, text, wait_until
from tests.support.live import LiveServer
from tests.support.media import decoded_frames, psnr


@pytest.fixture
def key(server: LiveServer) -> str:
    return server.create_account("ark", 1000)


def _probe(url: str, tmp_path: Path) -> dict[str, Any]:
    """Size, frame rate and frame count of the MP4 at ``url``, fetched without the API key."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    path = tmp_path / "video.mp4"
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "size": (stream.width, stream.height),
            "fps": stream.average_rate,
            "frames": frames,
        }


def test_text_to_video_with_flags_in_the_prompt(
    server: LiveServer, key: str, tmp_path: Path
) -> None:
    ark = ark_client(server, key)
    created = ark.content_generation.tasks.create(
        model="doubao-seedance-1-0-pro-250528",
        content=text(
            "a red kite over green hills --rs 480p --dur 4 --seed 1234 --cf true --fps 24"
        ),
    )
    task = wait_until(ark, created.id)
    assert task.status == "succeeded", task.error
    assert (task.id, task.model, task.error) == (created.id, "doubao-seedance-1-0-pro-250528", None)
    assert (task.resolution, task.ratio, task.duration, task.framespersecond) == (
        "480p",
        "16:9",
        4,
        24,
    )
    assert (task.seed, task.camera_fixed, task.generate_audio) == (1234, True, False)
    assert task.usage.completion_tokens == task.usage.total_tokens == 864 * 480 * 96 // 1024
    assert task.created_at <= task.updated_at
    assert _probe(task.content.video_url, tmp_path) == {"size": (864, 480), "fps": 24, "frames": 96}
    # the same task through the Seedance door: the flags were cut out of the prompt it renders
    with server.client(key) as client:
        seedance = client.get("/v1/status", params={"task_id": created.id}).json()["data"]
    assert seedance["request"]["prompt"] == "a red kite over green hills"
    assert seedance["request"]["seed"] == 1234 and seedance["request"]["fixed_lens"] is True


def test_a_first_frame_data_url_with_an_adaptive_ratio(
    server: LiveServer, key: str, tmp_path: Path
) -> None:
    ark = ark_client(server, key)
    created = ark.content_generation.tasks.create(
        model="i2v",
        content=[
            *text("the kite takes off"),
            {
                "type": "image_url",
                "image_url": {"url": png_data_url((600, 800))},  # 3:4
                "role": "first_frame",
            },
        ],
        ratio="adaptive",
        resolution="480p",
        duration=4,
    )
    # resolved at create: the image is in the request
    assert ark.content_generation.tasks.get(task_id=created.id).ratio == "3:4"
    task = wait_until(ark, created.id)
    assert task.status == "succeeded", task.error
    assert _probe(task.content.video_url, tmp_path) == {"size": (544, 736), "fps": 24, "frames": 96}
    assert task.usage.completion_tokens == 544 * 736 * 96 // 1024


def test_return_last_frame_gives_the_last_frame_of_the_video(
    server: LiveServer, key: str, tmp_path: Path
) -> None:
    ark = ark_client(server, key)
    created = ark.content_generation.tasks.create(
        model="m",
        content=text("a paper plane lands"),
        ratio="9:16",
        resolution="480p",
        duration=4,
        return_last_frame=True,
    )
    task = wait_until(ark, created.id)
    assert task.status == "succeeded", task.error
    assert _probe(task.content.video_url, tmp_path)["size"] == (480, 864)
    frame = httpx.get(task.content.last_frame_url, timeout=30)  # fetched without the API key
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    last = np.asarray(Image.open(io.BytesIO(frame.content)).convert("RGB"))
    assert last.shape == (864, 480, 3)
    assert psnr(last, decoded_frames(tmp_path / "video.mp4")[-1]) > 35


def test_explicit_nulls_over_plain_http_give_the_defaults(server: LiveServer, key: str) -> None:
    body = {
        "model": "m",
        "content": [{"type": "text", "text": "a calm lake"}],
        **dict.fromkeys(
            [
                "resolution",
                "ratio",
                "duration",
                "seed",
                "camera_fixed",
                "generate_audio",
                "return_last_frame",
                "callback_url",
                "watermark",
                "frames",
                "draft",
                "tools",
                "service_tier",
                "priority",
                "execution_expires_after",
                "safety_identifier",
                "output_format",
                "omni_reference_task_type",
            ]
        ),
    }
    with server.client(key) as client:
        created = client.post(TASKS, json=body)
        assert created.status_code == 200 and set(created.json()) == {"id"}
        shown = client.get(f"{TASKS}/{created.json()['id']}").json()
    assert (shown["resolution"], shown["ratio"], shown["duration"]) == ("720p", "16:9", 4)
    assert (shown["generate_audio"], shown["camera_fixed"]) == (False, False)
    assert isinstance(shown["seed"], int) and shown["model"] == "m"
    assert set(shown) == {
        "id",
        "model",
        "status",
        "error",
        "content",
        "usage",
        "created_at",
        "updated_at",
        "seed",
        "resolution",
        "ratio",
        "duration",
        "framespersecond",
        "generate_audio",
        "camera_fixed",
    }
