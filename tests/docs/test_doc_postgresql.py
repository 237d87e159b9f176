"""docs/operating/postgresql.md, run against the local PostgreSQL: a fresh database (what the
page's `createdb` makes; created and dropped here), `opendance migrate`, then the page's
`opendance serve --workers 0` and `opendance worker` as separate processes, which complete a
task between them. Skips when PostgreSQL does not answer, except under CI=true."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support import postgres
from tests.support.doc_blocks import block, shell_lines
from tests.support.live import free_port
from tests.support.processes import ServeProcess, opendance_env

pytestmark = pytest.mark.slow


def _page_lines() -> dict[str, list[str]]:
    """The block's lines by their first word(s): createdb, export, migrate, serve, worker."""
    lines = shell_lines(block("docs/operating/postgresql.md", "createdb").body)
    named: dict[str, list[str]] = {}
    for line in lines:
        words = shlex.split(line)
        name = words[1] if words[0] == "opendance" else words[0]
        named[name] = words
    assert set(named) == {"createdb", "export", "migrate", "serve", "worker"}, named
    return named


def test_the_page_names_one_database() -> None:
    """What `createdb` makes is what the URL names: the page's two lines agree."""
    lines = _page_lines()
    createdb = lines["createdb"]
    host, user, name = (createdb[createdb.index("-h") + 1], createdb[createdb.index("-U") + 1],
                        createdb[-1])  # fmt: skip
    variable, _, url = lines["export"][1].partition("=")
    assert variable == "OPENDANCE_DATABASE_URL"
    parsed = make_url(url)
    assert parsed.get_backend_name() == "postgresql"
    assert (parsed.host, parsed.username, parsed.database) == (host, user, name)


def test_migrate_then_an_api_and_a_worker_complete_a_task(tmp_path: Path) -> None:
    postgres.require_server()
    lines = _page_lines()
    with postgres.scratch_database("opendance_docs") as url:
        env = {"OPENDANCE_DATABASE_URL": url}
        data_dir = tmp_path / "data"  # the local object store both processes share
        migrate = subprocess.run(
            [sys.executable, "-m", "opendance", *lines["migrate"][1:]],
            env=opendance_env(data_dir, **env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        assert "revision" in migrate.stdout

        serve_args = tuple(lines["serve"][2:])
        assert serve_args == ("--workers", "0")
        api = ServeProcess(data_dir, free_port(), args=serve_args, env=env).start()
        worker: subprocess.Popen[str] | None = None
        try:
            key = api.demo_key()
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=api.url, headers=auth, timeout=30) as http:
                # the API alone runs nothing: not ready, and the task waits
                assert http.get("/readyz").status_code == 503
                body = {"prompt": "a harbour", "resolution": "480p", "duration": 4}
                created = http.post("/v1/generate", json=body)
                assert created.status_code == 200, created.text
                task_id = created.json()["data"]["task_id"]

                worker = subprocess.Popen(
                    [sys.executable, "-m", "opendance", *lines["worker"][1:]],
                    env=opendance_env(data_dir, **env),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                data = _wait_for_end(http, task_id)
                assert data["status"] == "SUCCESS", data
                video = http.get(data["response"][0], headers={"Range": "bytes=0-11"})
                assert video.status_code == 206 and video.content[4:8] == b"ftyp"
                assert http.get("/readyz").json()["data"]["workers"] == 1
        finally:
            if worker is not None:
                worker.terminate()
                assert worker.wait(90) == 0
            api.stop()


def _wait_for_end(http: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while True:
        data: dict[str, Any] = http.get("/v1/status", params={"task_id": task_id}).json()["data"]
        if data["status"] != "IN_PROGRESS":
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.3)
