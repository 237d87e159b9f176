"""The image's default command, run here as the container would run it: `docker run -p
8000:8000 IMAGE` must be a working server that prints its demo key (there is no Docker here, so
the command and the image's settings are taken from deploy/Dockerfile and run locally)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy.test_deploy_files import image_default_command, image_env
from tests.support.live import free_port, wait_for_status
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.slow


def test_the_default_command_serves_and_prints_the_demo_key(tmp_path: Path) -> None:
    command = image_default_command()
    assert command[:2] == ["opendance", "serve"]
    port = free_port()
    env = image_env()
    # What differs from the container: a data directory of this test, a port free here (the
    # container's 8000 is its own) and the public URL that follows it.
    env.update(
        OPENDANCE_DATA_DIR=str(tmp_path / "data"),
        OPENDANCE_PORT=str(port),
        OPENDANCE_PUBLIC_URL=f"http://localhost:{port}",
    )
    # ServeProcess runs `opendance serve --port PORT` + these: the image's own arguments
    server = ServeProcess(tmp_path / "data", port, tuple(command[2:]), env=env).start()
    try:
        key = server.demo_key()
        banner = server.output()
        assert f"listening on http://0.0.0.0:{port}" in banner
        assert "1 worker(s)" in banner
        assert (tmp_path / "data" / "opendance.db").is_file()  # SQLite, in the data directory
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            created = client.post(
                "/v1/generate",
                json={"prompt": "a lighthouse", "resolution": "480p", "duration": "4"},
            ).json()
            data = wait_for_status(client, created["data"]["task_id"])
            assert data["status"] == "SUCCESS"
            video_url = data["response"][0]
            assert video_url.startswith(f"http://localhost:{port}/")
            video = client.get(video_url)
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    finally:
        assert server.stop() == 0
