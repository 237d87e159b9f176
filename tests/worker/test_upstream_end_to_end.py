"""Whole tasks through two real servers on loopback: a client -> our API -> queue -> worker ->
upstream engine -> a second opendance server (preview engine) -> the video copied into our
store -> downloaded from our URL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from opendance.db.tables import tasks
from opendance.engines.base import EngineCapabilities, EngineError
from opendance.engines.registry import ENGINES, EngineEntry
from opendance.media.probe import check_output, probe_mp4
from opendance.services.context import AppContext
from tests.conftest import make_settings
from tests.net.servers import free_port
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer, generate, wait_for_status
from tests.support.media import first_frame, png_bytes
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.slow


def _start(tmp_path: Path, name: str, **overrides: object) -> LiveServer:
    return LiveServer(make_settings(tmp_path / name, **overrides)).start()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[LiveServer]:
    server = _start(tmp_path, "upstream")
    yield server
    server.stop()


def _ours(tmp_path: Path, upstream_url: str, key: str, **overrides: object) -> LiveServer:
    return _start(
        tmp_path,
        "ours",
        engine="upstream",
        upstream_url=upstream_url,
        upstream_api_key=key,
        upstream_poll_seconds=0.05,
        **overrides,
    )


def _run(server: LiveServer, account: str, **body: object) -> dict[str, Any]:
    key = server.create_account(account, 100)
    with server.client(key) as client:
        return wait_for_status(client, generate(client, **body), timeout=60)


def test_a_task_is_rendered_upstream_and_published_from_our_store(
    upstream: LiveServer, tmp_path: Path
) -> None:
    upstream_key = upstream.create_account("reseller", 100)
    ours = _ours(tmp_path, upstream.url, upstream_key)
    try:
        key = ours.create_account("customer", 100)
        with ours.client(key) as client:
            task_id = generate(
                client,
                prompt="a paper boat on a rainy street",
                aspect_ratio="16:9",
                resolution="480p",
                duration=4,
                generate_audio=True,
                seed=77,
            )
            data = wait_for_status(client, task_id, timeout=60)
            assert data["status"] == "SUCCESS", data
            assert data["progress"] == 100 and data["consumed_credits"] == 14
            url = data["response"][0]
            assert url.startswith(ours.url + "/files/")  # our store, not the upstream's
            video = client.get(url)
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        path = tmp_path / "ours.mp4"
        path.write_bytes(video.content)
        probe = probe_mp4(path)
        assert check_output(probe, width=864, height=480, fps=24, frame_count=96, audio=True) == []
        assert probe.audio_codec == "aac"
        # the upstream's task: same request, charged to the operator's upstream account
        with upstream.client(upstream_key) as up:
            listed = [r for r in _upstream_tasks(upstream) if r["prompt"].startswith("a paper")]
            [upstream_task] = listed
            theirs = wait_for_status(up, upstream_task["id"])
            assert theirs["request"]["seed"] == 77 and theirs["request"]["duration"] == "4"
            assert theirs["request"]["generate_audio"] is True
            # a conforming upstream video is published byte for byte
            assert up.get(theirs["response"][0]).content == video.content
        assert upstream.call(lambda c: balance(c, "reseller")) == 86
        assert ours.call(lambda c: balance(c, "customer")) == 86
    finally:
        ours.stop()


def _upstream_tasks(server: LiveServer) -> list[dict[str, Any]]:
    """The tasks the upstream server received, with their stored requests."""

    async def read(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.db.read() as conn:
            rows = await conn.execute(select(tasks.c.id, tasks.c.request))
            return [{"id": r.id, "prompt": r.request["prompt"], **r.request} for r in rows]

    return server.call(read)


def test_image_to_video_is_forwarded_with_the_image(upstream: LiveServer, tmp_path: Path) -> None:
    ours = _ours(tmp_path, upstream.url, upstream.create_account("reseller", 100))
    try:
        image = base64.b64encode(png_bytes((200, 30, 30))).decode()
        data = _run(
            ours,
            "painter",
            prompt="the red wall glows",
            aspect_ratio="16:9",
            resolution="480p",
            duration=4,
            image_urls=[f"data:image/png;base64,{image}"],
        )
        assert data["status"] == "SUCCESS", data
        (tmp_path / "i.mp4").write_bytes(httpx.get(data["response"][0]).content)
        # the upstream got the image inline (never one of our URLs), already fitted to 864x480
        [forwarded] = _upstream_tasks(upstream)
        assert forwarded["image_urls"][0].startswith("data:image/png;base64,")
        frame = first_frame(tmp_path / "i.mp4").astype(int)
        centre = frame[100:380, 200:660].reshape(-1, 3).mean(axis=0)
        assert np.abs(centre - np.array([200, 30, 30])).max() < 25
    finally:
        ours.stop()


class _BrokenEngine:
    name = "broken"
    capabilities = EngineCapabilities(audio=True, image_to_video=True)

    def generate(self, spec: object, on_progress: object) -> object:
        raise EngineError("the model ran out of GPU memory")


@pytest.fixture
def broken_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A real opendance server whose engine fails every task."""
    monkeypatch.setitem(
        ENGINES,
        "broken",
        EngineEntry(lambda _s: _BrokenEngine.capabilities, lambda _s: _BrokenEngine()),  # type: ignore[arg-type,return-value]
    )
    server = _start(tmp_path, "broken", engine="broken")
    yield server
    server.stop()


def test_an_upstream_failure_fails_our_task_and_refunds(
    broken_upstream: LiveServer, tmp_path: Path
) -> None:
    ours = _ours(tmp_path, broken_upstream.url, broken_upstream.create_account("reseller", 100))
    try:
        data = _run(ours, "unlucky", prompt="x", resolution="480p", duration=4)
        assert data["status"] == "FAILED" and data["consumed_credits"] == 0
        assert data["error_message"] == (
            "the upstream service could not generate the video: the model ran out of GPU memory"
        )
        assert ours.call(lambda c: balance(c, "unlucky")) == 100
        assert ours.call(ledger_consistent)
        assert broken_upstream.call(lambda c: balance(c, "reseller")) == 100  # refunded there too
    finally:
        ours.stop()


@pytest.mark.parametrize(
    ("upstream_credits", "wrong_key", "expected"),
    [
        (0, False, "the upstream service does not have enough credits for this task"),
        (100, True, "the upstream service did not accept this server's credentials"),
    ],
    ids=["402", "401"],
)
def test_an_upstream_refusal_fails_our_task_without_leaking_the_operator_details(
    upstream: LiveServer,
    tmp_path: Path,
    upstream_credits: int,
    wrong_key: bool,
    expected: str,
) -> None:
    key = upstream.create_account("reseller", upstream_credits)
    if wrong_key:
        key = key[:-4] + "xxxx"
    ours = _ours(tmp_path, upstream.url, key)
    try:
        data = _run(ours, "customer", prompt="x", resolution="480p", duration=4)
        assert data["status"] == "FAILED" and data["consumed_credits"] == 0
        message = str(data["error_message"])
        assert message == expected
        assert key not in message and upstream.url not in message
        assert ours.call(lambda c: balance(c, "customer")) == 100
    finally:
        ours.stop()


def test_an_upstream_that_never_finishes_times_out_and_refunds(tmp_path: Path) -> None:
    stalled = LiveServer(make_settings(tmp_path / "stalled"), with_worker=False).start()
    try:
        ours = _ours(
            tmp_path,
            stalled.url,
            stalled.create_account("reseller", 100),
            upstream_timeout_seconds=1.0,
        )
        try:
            data = _run(ours, "patient", prompt="x", resolution="480p", duration=4)
            assert data["status"] == "FAILED" and data["consumed_credits"] == 0
            assert data["error_message"] == (
                "the upstream service did not finish the video within 1 s (timed out)"
            )
            assert ours.call(lambda c: balance(c, "patient")) == 100
        finally:
            ours.stop()
    finally:
        stalled.stop()


def test_an_unreachable_upstream_fails_our_task_and_refunds(tmp_path: Path) -> None:
    ours = _ours(tmp_path, f"http://127.0.0.1:{free_port()}", "od_nothing_listens")
    try:
        data = _run(ours, "stranded", prompt="x", resolution="480p", duration=4)
        assert data["status"] == "FAILED" and data["consumed_credits"] == 0
        assert data["error_message"] == "the upstream service is unreachable"
        assert ours.call(lambda c: balance(c, "stranded")) == 100
    finally:
        ours.stop()


def test_options_the_operator_turned_off_are_refused_at_submit(tmp_path: Path) -> None:
    ours = _ours(
        tmp_path,
        "http://127.0.0.1:9",
        "key",
        upstream_audio=False,
        upstream_image_to_video=False,
    )
    try:
        key = ours.create_account("customer", 100)
        with ours.client(key) as client:
            audio = client.post("/v1/generate", json={"prompt": "x", "generate_audio": True})
            image = client.post(
                "/v1/generate",
                json={"prompt": "x", "image_urls": ["https://example.com/a.png"]},
            )
        assert audio.status_code == 400 and audio.json()["error"] == "UNSUPPORTED_OPTION"
        assert image.status_code == 400 and image.json()["error"] == "UNSUPPORTED_OPTION"
    finally:
        ours.stop()


def test_opendance_serve_workers_reach_the_upstream(upstream: LiveServer, tmp_path: Path) -> None:
    """The real deployment: `opendance serve` hands the upstream settings (the key too) to
    its worker processes through the environment."""
    key = upstream.create_account("reseller", 100)
    env = {
        "OPENDANCE_ENGINE": "upstream",
        "OPENDANCE_UPSTREAM_URL": upstream.url,
        "OPENDANCE_UPSTREAM_API_KEY": key,
        "OPENDANCE_UPSTREAM_POLL_SECONDS": "0.1",
    }
    serve = ServeProcess(tmp_path / "serve", free_port(), ("--workers", "1"), env=env).start()
    try:
        client = httpx.Client(
            base_url=serve.url, headers={"Authorization": f"Bearer {serve.demo_key()}"}
        )
        with client:
            task_id = generate(client, prompt="x", resolution="480p", duration=4)
            data = wait_for_status(client, task_id, timeout=60)
        assert data["status"] == "SUCCESS", (data, serve.output())
        assert upstream.call(lambda c: balance(c, "reseller")) == 92
    finally:
        serve.stop()
