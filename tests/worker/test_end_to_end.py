"""Whole tasks through a real server: API -> queue -> worker -> preview engine -> MP4 -> URL."""

from __future__ import annotations

import base64
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from opendance.db.tables import tasks
from opendance.media.probe import check_output, probe_mp4
from opendance.net.addresses import AddressPolicy
from opendance.services.context import AppContext
from tests.conftest import make_settings
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer, generate, wait_for_status
from tests.support.media import decoded_frames, first_frame, png_bytes, psnr


def _download(client: httpx.Client, url: str, path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    path.write_bytes(response.content)
    return path


def test_text_to_video_720p_8s_plays_with_the_contract_geometry(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("viewer", 100)
    with server.client(key) as client:
        task_id = generate(
            client,
            prompt="A cinematic shot of mountains at sunrise",
            aspect_ratio="16:9",
            resolution="720p",
            duration="8",
        )
        data = wait_for_status(client, task_id)
        assert data["status"] == "SUCCESS", data
        assert data["consumed_credits"] == 28 and data["progress"] == 100
        assert data["error_message"] is None
        assert len(data["response"]) == 1 and data["response"][0].startswith(server.url)
        video = _download(client, data["response"][0], tmp_path / "v.mp4")
        poster = client.get(data["poster_url"])
    probe = probe_mp4(video)
    assert check_output(probe, width=1248, height=704, fps=24, frame_count=192, audio=False) == []
    assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
    assert server.call(lambda c: balance(c, "viewer")) == 72


def test_video_url_supports_range_requests_and_rejects_bad_signatures(
    server: LiveServer,
) -> None:
    key = server.create_account("seeker", 100)
    with server.client(key) as client:
        data = wait_for_status(
            client, generate(client, prompt="seek", resolution="480p", duration=4)
        )
        url = data["response"][0]
        full = client.get(url)
        part = client.get(url, headers={"Range": "bytes=100-299"})
        head = client.head(url)
        tampered = client.get(url.replace("sig=", "sig=x"))
        unsigned = client.get(url.split("?")[0])
        non_ascii = client.get(url.split("?")[0] + "?sig=%C3%A9")
        base = url.split("/files/")[0]
        traversal = [
            client.get(f"{base}/files/{path}")
            for path in (
                "../opendance.db",
                "%2e%2e/opendance.db",
                "videos/..%2F..%2Fopendance.db",
                "/etc/passwd",
                "videos/../../opendance.db",
            )
        ]
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-299/{len(full.content)}"
    assert part.content == full.content[100:300]
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(full.content)
    assert full.headers["accept-ranges"] == "bytes"
    assert tampered.status_code == 404 and tampered.json()["error"] == "NOT_FOUND"
    assert unsigned.status_code == 404
    assert non_ascii.status_code == 404 and non_ascii.json()["error"] == "NOT_FOUND"
    assert [r.status_code for r in traversal] == [404] * 5


def test_audio_track_has_the_video_length(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("listener", 100)
    with server.client(key) as client:
        data = wait_for_status(
            client,
            generate(
                client,
                prompt="birds singing by a river",
                aspect_ratio="9:16",
                resolution="480p",
                duration=4,
                generate_audio=True,
                fixed_lens=True,
            ),
        )
        assert data["status"] == "SUCCESS", data
        assert data["consumed_credits"] == 14
        video = _download(client, data["response"][0], tmp_path / "a.mp4")
    probe = probe_mp4(video)
    assert check_output(probe, width=480, height=864, fps=24, frame_count=96, audio=True) == []


def test_same_seed_same_video_different_seed_different_video(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("seeder", 100)
    body = {
        "prompt": "a lighthouse in a storm",
        "resolution": "480p",
        "duration": 4,
        "aspect_ratio": "4:3",
    }
    with server.client(key) as client:
        ids = [
            generate(client, **body, seed=1234),
            generate(client, **body, seed=1234),
            generate(client, **body, seed=99),
        ]
        paths = []
        for i, task_id in enumerate(ids):
            data = wait_for_status(client, task_id)
            assert data["request"]["seed"] == (1234 if i < 2 else 99)
            paths.append(_download(client, data["response"][0], tmp_path / f"{i}.mp4"))
    first, again, other = (decoded_frames(p) for p in paths)
    # The engine's frames are bit-identical for the same seed (tests/engines); after H.264 the
    # files agree to within compression noise, which x264 does not always repeat bit for bit.
    assert len(first) == len(again) == len(other) == 96
    assert min(psnr(a, b) for a, b in zip(first, again, strict=True)) > 40, server.call(
        _attempts(ids)
    )
    assert min(psnr(a, b) for a, b in zip(first, other, strict=True)) < 25


def _attempts(ids: list[str]) -> Callable[[AppContext], Awaitable[list[tuple[str, int]]]]:
    """Diagnostics for a failure: how many times each task was claimed."""

    async def read(ctx: AppContext) -> list[tuple[str, int]]:
        async with ctx.db.read() as conn:
            rows = await conn.execute(select(tasks.c.id, tasks.c.attempts))
            return [(r.id, r.attempts) for r in rows if r.id in ids]

    return read


def test_image_to_video_from_a_data_url_starts_with_the_image(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("painter", 100)
    image = base64.b64encode(png_bytes((200, 30, 30))).decode()
    with server.client(key) as client:
        data = wait_for_status(
            client,
            generate(
                client,
                prompt="the red wall slowly glows",
                resolution="480p",
                duration=4,
                aspect_ratio="16:9",
                image_urls=[f"data:image/png;base64,{image}"],
            ),
        )
        assert data["status"] == "SUCCESS", data
        video = _download(client, data["response"][0], tmp_path / "i.mp4")
    frame = first_frame(video).astype(int)
    centre = frame[100:380, 200:660].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - np.array([200, 30, 30])).max() < 25


def test_undecodable_inline_image_fails_the_task_with_a_refund(server: LiveServer) -> None:
    key = server.create_account("garbage", 100)
    junk = base64.b64encode(b"\x89PNG but not really an image" * 10).decode()
    with server.client(key) as client:
        data = wait_for_status(
            client,
            generate(
                client,
                prompt="x",
                resolution="480p",
                duration=4,
                image_urls=[f"data:image/png;base64,{junk}"],
            ),
        )
    assert data["status"] == "FAILED"
    assert data["consumed_credits"] == 0
    assert "image" in data["error_message"]
    assert data["response"] == []
    assert server.call(lambda c: balance(c, "garbage")) == 100
    assert server.call(ledger_consistent)


def test_image_url_at_a_private_address_fails_the_task_and_never_connects(
    server: LiveServer,
) -> None:
    hits: list[str] = []
    sink = _serve_images(hits, png_bytes((0, 0, 255)))
    try:
        key = server.create_account("sneaky", 100)
        with server.client(key) as client:
            data = wait_for_status(
                client,
                generate(
                    client,
                    prompt="x",
                    resolution="480p",
                    duration=4,
                    image_urls=[f"http://127.0.0.1:{sink.server_port}/cat.png"],
                ),
            )
        assert data["status"] == "FAILED"
        assert (
            data["error_message"]
            == "image_urls[0] could not be fetched: the URL is not publicly reachable"
        )
        assert data["consumed_credits"] == 0
        assert hits == []
    finally:
        sink.shutdown()


@pytest.fixture
def image_host() -> Iterator[ThreadingHTTPServer]:
    hits: list[str] = []
    host = _serve_images(hits, png_bytes((20, 180, 40)))
    yield host
    host.shutdown()


def test_image_to_video_from_an_http_url(tmp_path: Path, image_host: ThreadingHTTPServer) -> None:
    # The image host on 127.0.0.1 plays a public server: only that address is carved out.
    policy = AddressPolicy.default(allow=["127.0.0.1/32"])
    live = LiveServer(make_settings(tmp_path), policy=policy).start()
    try:
        key = live.create_account("fetcher", 100)
        with live.client(key) as client:
            data = wait_for_status(
                client,
                generate(
                    client,
                    prompt="a green field",
                    resolution="480p",
                    duration=4,
                    aspect_ratio="1:1",
                    image_urls=[f"http://127.0.0.1:{image_host.server_port}/field.png"],
                ),
            )
            assert data["status"] == "SUCCESS", data
            video = _download(client, data["response"][0], tmp_path / "h.mp4")
    finally:
        live.stop()
    centre = first_frame(video)[200:440, 200:440].reshape(-1, 3).astype(int).mean(axis=0)
    assert np.abs(centre - np.array([20, 180, 40])).max() < 25


def _serve_images(hits: list[str], body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
