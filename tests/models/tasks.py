"""One task through a live server, its video downloaded and measured."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx

from opendance.domain import presets
from opendance.media.probe import ProbeResult, check_output, probe_mp4
from tests.support.live import LiveServer, wait_for_status
from tests.support.media import png_bytes


def image_data_url(color: tuple[int, int, int] = (200, 80, 40)) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(color)).decode()


def run_task(
    server: LiveServer, key: str, tmp_path: Path, *, timeout: float = 240, **body: Any
) -> tuple[dict[str, Any], Path, ProbeResult, list[int]]:
    """Submit, poll (recording the progress seen), download; returns status data, the file,
    its probe and the progress values."""
    with server.client(key) as client:
        response = client.post("/v1/generate", json=body)
        assert response.status_code == 200, response.json()
        task_id = response.json()["data"]["task_id"]
        progress: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
            progress.append(int(data["progress"]))
            if data["status"] != "IN_PROGRESS":
                break
            time.sleep(0.1)
        data = wait_for_status(client, task_id, timeout=1)
        assert data["status"] == "SUCCESS", data
        path = tmp_path / f"{task_id}.mp4"
        video = client.get(data["response"][0])
        assert video.status_code == 200
        path.write_bytes(video.content)
    return data, path, probe_mp4(path), progress


def assert_contract_video(probe: ProbeResult, *, aspect: str, duration: int, audio: bool) -> None:
    width, height = presets.frame_size(aspect, "480p")
    problems = check_output(
        probe, width=width, height=height, fps=24, frame_count=24 * duration, audio=audio
    )
    assert problems == [], problems


def status_of(server: LiveServer, key: str, task_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        data: dict[str, Any] = c.get("/v1/status", params={"task_id": task_id}).json()["data"]
        return data
