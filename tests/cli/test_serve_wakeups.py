"""`opendance serve` on SQLite wakes its idle workers when a task is queued (the wake channel
next to the database file), and still gets the work done by polling when the channel is broken."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import free_port, wait_for_status
from tests.support.processes import ServeProcess, opendance_env

pytestmark = pytest.mark.slow

LONG_POLL = "30"  # far longer than a test waits: only a wake-up can start a task in time
STARTS_WITHIN = 5.0
TASK = {"prompt": "wake up", "resolution": "480p", "duration": 4}


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "opendance.db", timeout=30)


def _wake_sockets(data_dir: Path) -> list[Path]:
    directory = data_dir / "opendance.db-wake"
    return sorted(directory.glob("*.sock")) if directory.is_dir() else []


def _wait_for_idle_listeners(data_dir: Path, count: int) -> None:
    """Until ``count`` workers are idle and have joined the channel, then a little more: their
    first claim (made on joining) found nothing and they now wait out the long poll."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with _db(data_dir) as conn:
            idle = conn.execute("SELECT count(*) FROM workers WHERE state = 'idle'").fetchone()
        if idle[0] >= count and len(_wake_sockets(data_dir)) >= count:
            time.sleep(1.0)
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} workers never joined the wake channel")


def _seconds_until_claimed(data_dir: Path, task_id: str, limit: float) -> float:
    submitted = time.monotonic()
    while time.monotonic() - submitted < limit:
        with _db(data_dir) as conn:
            row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row and row[0] != "queued":
            return time.monotonic() - submitted
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} still queued after {limit:g} s")


def _submit(client: httpx.Client) -> str:
    response = client.post("/v1/generate", json=TASK)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


@pytest.fixture
def long_poll_serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(
        tmp_path / "data",
        free_port(),
        ("--workers", "2"),
        env={"OPENDANCE_POLL_SECONDS": LONG_POLL},
    ).start()
    yield process
    process.stop()


def test_supervised_workers_claim_a_submitted_task_at_once(
    long_poll_serve: ServeProcess,
) -> None:
    serve = long_poll_serve
    key = serve.demo_key()
    _wait_for_idle_listeners(serve.data_dir, 2)
    with httpx.Client(
        base_url=serve.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        for _ in range(3):
            task_id = _submit(client)
            _seconds_until_claimed(serve.data_dir, task_id, STARTS_WITHIN)
            assert wait_for_status(client, task_id)["status"] == "SUCCESS"
            _wait_for_idle_listeners(serve.data_dir, 2)


def test_a_worker_started_by_hand_joins_the_channel(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    serve = ServeProcess(
        data_dir, free_port(), ("--workers", "0"), env={"OPENDANCE_POLL_SECONDS": LONG_POLL}
    ).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "opendance", "worker"],
        env=opendance_env(data_dir, OPENDANCE_POLL_SECONDS=LONG_POLL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        key = serve.demo_key()
        _wait_for_idle_listeners(data_dir, 1)
        with httpx.Client(
            base_url=serve.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            task_id = _submit(client)
            _seconds_until_claimed(data_dir, task_id, STARTS_WITHIN)
            assert wait_for_status(client, task_id)["status"] == "SUCCESS"
    finally:
        worker.terminate()
        worker.wait(60)
        serve.stop()
    assert _wake_sockets(data_dir) == []  # a worker that stops leaves the channel


def test_without_a_channel_the_workers_poll_and_submits_are_unaffected(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # a file where the channel's directory belongs: no worker can join
    (data_dir / "opendance.db-wake").write_text("not a directory")
    serve = ServeProcess(
        data_dir, free_port(), ("--workers", "1"), env={"OPENDANCE_POLL_SECONDS": "1"}
    ).start()
    try:
        key = serve.demo_key()
        with httpx.Client(
            base_url=serve.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            task_ids = [_submit(client) for _ in range(2)]
            for task_id in task_ids:
                assert wait_for_status(client, task_id)["status"] == "SUCCESS"
        assert "cannot listen for new tasks" in serve.output()
    finally:
        serve.stop()
