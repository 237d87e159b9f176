"""docs/engines.md's way to try the real model code path without weights, run as shown:
`opendance models make-tiny ltx2 ./tiny-ltx2`, then the page's serve line with that tiny
model, up to a ready server whose worker row names the ltx2 engine and one finished video.
(docs/performance.md's dry run of the GPU benchmark is run by
tests/models/test_gpu_video_bench.py.) Skips without the model stack, except under CI=true."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.models.conftest import require_model_stack
from tests.support.doc_blocks import block, shell_lines
from tests.support.live import free_port
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.slow


def _torch_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_make_tiny_then_serve_the_tiny_ltx2(tmp_path: Path) -> None:
    require_model_stack()
    make, serve = shell_lines(block("docs/engines.md", "make-tiny ltx2").body)

    made = subprocess.run(
        [sys.executable, "-m", "opendance", *shlex.split(make)[1:]],
        cwd=tmp_path,
        env=_torch_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    words = shlex.split(serve)
    assignments = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    assert words[:2] == ["opendance", "serve"]
    # ServeProcess runs from the test's directory: the page's relative path, made absolute
    args = tuple(str(tmp_path / w) if w.startswith("./") else w for w in words[2:])
    assert (tmp_path / "tiny-ltx2" / "model_index.json").is_file()

    data_dir = tmp_path / "data"
    env = {**assignments, "OMP_NUM_THREADS": "1"}
    server = ServeProcess(data_dir, free_port(), args=args, env=env).start()
    try:
        key = server.demo_key()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _wait_until_ready(http, server)
            assert _worker_engines(data_dir) == ["ltx2"]
            ready = http.get("/readyz").json()["data"]
            assert ready["audio"] and ready["image_to_video"]  # what LTX-2 brings
            created = http.post(
                "/v1/generate",
                headers={"Authorization": f"Bearer {key}"},
                json={"prompt": "noise", "resolution": "480p", "duration": 4},
            )
            assert created.status_code == 200, created.text
            task_id = created.json()["data"]["task_id"]
            deadline = time.monotonic() + 300
            while True:
                status = http.get(
                    "/v1/status",
                    params={"task_id": task_id},
                    headers={"Authorization": f"Bearer {key}"},
                ).json()["data"]
                if status["status"] != "IN_PROGRESS":
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            assert status["status"] == "SUCCESS", status
    finally:
        server.stop()


def _wait_until_ready(http: httpx.Client, server: ServeProcess) -> None:
    """The worker loads the model in its child first (`loading`): ready once it is loaded."""
    deadline = time.monotonic() + 300
    while http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.5)


def _worker_engines(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "opendance.db") as db:
        return [row[0] for row in db.execute("SELECT engine FROM workers")]
