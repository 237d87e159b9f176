"""`opendance serve` as a newcomer runs it, and its workers under SIGKILL and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import free_port, wait_for_status
from tests.support.processes import ServeProcess, cli_json, opendance_env

pytestmark = pytest.mark.slow

QUICKSTART = {
    "prompt": "A cinematic shot of mountains at sunrise with flowing clouds",
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration": "8",
}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data", free_port(), ("--workers", "1")).start()
    yield process
    process.stop()


def _client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "opendance.db", timeout=30)


def _wait_running(data_dir: Path, task_id: str, timeout: float = 60) -> int:
    """Wait until a worker holds the task and has made progress; return that worker's pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _db(data_dir) as conn:
            row = conn.execute(
                "SELECT w.pid FROM tasks t JOIN workers w ON w.current_task_id = t.id "
                "WHERE t.id = ? AND t.status = 'running' AND t.progress > 0",
                (task_id,),
            ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never ran")


def test_quickstart_demo_key_generate_and_watch(serve: ServeProcess) -> None:
    key = serve.demo_key()
    with _client(serve.url, key) as client:
        created = client.post("/v1/generate", json=QUICKSTART).json()
        assert created["code"] == 200 and created["data"]["status"] == "IN_PROGRESS"
        data = wait_for_status(client, created["data"]["task_id"])
        assert data["status"] == "SUCCESS"
        video = client.get(data["response"][0])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    shown = cli_json(serve.data_dir, "credits", "show", "demo")
    assert shown["balance"] == 1000 - 28
    # A second start on the same data creates no second demo account.
    serve.stop()
    again = ServeProcess(serve.data_dir, free_port(), ("--workers", "0")).start()
    try:
        assert "Created the 'demo' account" not in again.output()
    finally:
        again.stop()


def test_the_documentation_curl_quickstart_works_verbatim(serve: ServeProcess) -> None:
    key = serve.demo_key()
    command = f"""curl -s -X POST '{serve.url}/v1/generate' \\
      -H 'Authorization: Bearer {key}' \\
      -H 'Content-Type: application/json' \\
      -d '{{
        "prompt": "A cinematic shot of mountains at sunrise with flowing clouds",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": "8"
      }}'"""
    created = json.loads(
        subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    )
    assert created["code"] == 200
    task_id = created["data"]["task_id"]
    poll = (
        f"curl -s -X GET '{serve.url}/v1/status?task_id={task_id}' -H 'Authorization: Bearer {key}'"
    )
    with _client(serve.url, key) as client:
        wait_for_status(client, task_id)
    status = json.loads(
        subprocess.run(["bash", "-c", poll], capture_output=True, text=True, check=True).stdout
    )
    assert status["data"]["status"] == "SUCCESS"
    assert status["data"]["response"][0].endswith(
        ".mp4?sig=" + status["data"]["response"][0].split("sig=")[1]
    )


def test_sigterm_on_serve_lets_running_tasks_finish(tmp_path: Path) -> None:
    process = ServeProcess(tmp_path / "data", free_port(), ("--workers", "1")).start()
    key = process.demo_key()
    with _client(process.url, key) as client:
        task_id = client.post(
            "/v1/generate", json={"prompt": "finish me", "resolution": "480p", "duration": 12}
        ).json()["data"]["task_id"]
        _wait_running(process.data_dir, task_id)
    assert process.stop() == 0
    with _db(process.data_dir) as conn:
        status = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        workers_left = conn.execute("SELECT count(*) FROM workers").fetchone()
    assert status == ("succeeded",)
    assert workers_left == (0,)  # every worker exited cleanly and unregistered


def test_ctrl_c_to_the_process_group_drains_running_tasks(tmp_path: Path) -> None:
    """A terminal's Ctrl-C (or a service manager) signals serve's whole process group."""
    process = ServeProcess(tmp_path / "data", free_port(), ("--workers", "1")).start()
    key = process.demo_key()
    with _client(process.url, key) as client:
        task_id = client.post(
            "/v1/generate", json={"prompt": "ctrl-c", "resolution": "720p", "duration": 12}
        ).json()["data"]["task_id"]
        _wait_running(process.data_dir, task_id)
    assert process.proc is not None
    os.killpg(process.proc.pid, signal.SIGINT)
    assert process.proc.wait(120) == 0
    with _db(process.data_dir) as conn:
        status = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert status == ("succeeded",), process.output()


def test_workers_do_not_outlive_a_killed_serve(tmp_path: Path) -> None:
    process = ServeProcess(tmp_path / "data", free_port(), ("--workers", "2")).start()
    deadline = time.monotonic() + 30
    pids: list[int] = []
    while len(pids) < 2 and time.monotonic() < deadline:
        with _db(process.data_dir) as conn:
            pids = [row[0] for row in conn.execute("SELECT pid FROM workers")]
        time.sleep(0.1)
    assert len(pids) == 2
    assert process.proc is not None
    process.proc.kill()
    process.proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, just not reaped yet
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_no_demo_flag_creates_nothing(tmp_path: Path) -> None:
    process = ServeProcess(tmp_path / "data", free_port(), ("--workers", "0", "--no-demo"))
    process.start()
    try:
        assert "Created the 'demo' account" not in process.output()
    finally:
        process.stop()
    assert cli_json(process.data_dir, "accounts", "list") == []


def test_sigkilled_worker_task_still_succeeds_charged_once(serve: ServeProcess) -> None:
    key = serve.demo_key()
    with _client(serve.url, key) as client:
        task_id = client.post(
            "/v1/generate", json={"prompt": "crash test", "resolution": "720p", "duration": 12}
        ).json()["data"]["task_id"]
        victim = _wait_running(serve.data_dir, task_id)
        os.kill(victim, signal.SIGKILL)
        data = wait_for_status(client, task_id, timeout=180)
    assert data["status"] == "SUCCESS", data
    assert data["consumed_credits"] == 42
    with _db(serve.data_dir) as conn:
        ledger = conn.execute(
            "SELECT kind, amount FROM ledger WHERE task_id = ?", (task_id,)
        ).fetchall()
        attempts = conn.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert ledger == [("charge", -42)]
    assert attempts[0] == 2
    assert cli_json(serve.data_dir, "credits", "show", "demo")["balance"] == 1000 - 42
    assert "restarting" in serve.output()


def test_sigterm_lets_a_standalone_worker_finish_its_task(tmp_path: Path) -> None:
    api = ServeProcess(tmp_path / "data", free_port(), ("--workers", "0")).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "opendance", "worker"],
        env=opendance_env(api.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        key = api.demo_key()
        with _client(api.url, key) as client:
            task_id = client.post(
                "/v1/generate", json={"prompt": "drain", "resolution": "480p", "duration": 12}
            ).json()["data"]["task_id"]
            assert _wait_running(api.data_dir, task_id) == worker.pid
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(120) == 0
            data = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
        assert data["status"] == "SUCCESS"
    finally:
        if worker.poll() is None:
            worker.kill()
        api.stop()


def test_pending_webhook_survives_sigkill_of_everything(tmp_path: Path) -> None:
    from tests.support.receivers import Receiver

    port = free_port()  # nobody listens yet: the receiver is down
    env = {"OPENDANCE_ALLOW_PRIVATE_URLS": "true", "OPENDANCE_WEBHOOK_RETRY_SCHEDULE": "1s"}
    data = tmp_path / "data"
    first = ServeProcess(data, free_port(), ("--workers", "1"), env=env).start()
    key = first.demo_key()
    with _client(first.url, key) as client:
        task_id = client.post(
            "/v1/generate",
            json={
                "prompt": "hook",
                "resolution": "480p",
                "duration": 4,
                "callback_url": f"http://127.0.0.1:{port}/hook",
            },
        ).json()["data"]["task_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with _db(data) as conn:
            row = conn.execute(
                "SELECT id, attempts FROM webhook_deliveries WHERE task_id = ?", (task_id,)
            ).fetchone()
        if row and row[1] >= 1:
            break
        time.sleep(0.1)
    assert row and row[1] >= 1
    with _db(data) as conn:
        worker_pids = [r[0] for r in conn.execute("SELECT pid FROM workers")]
    assert first.proc is not None
    for pid in [first.proc.pid, *worker_pids]:
        os.kill(pid, signal.SIGKILL)
    first.proc.wait()

    receiver = Receiver(port=port).start()
    second = ServeProcess(data, free_port(), ("--workers", "1"), env=env).start()
    try:
        deadline = time.monotonic() + 60
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.webhook_ids == [row[0]]
    finally:
        second.stop()
        receiver.stop()


def test_a_taken_port_fails_cleanly_before_the_demo_key_is_spent(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    data = tmp_path / "data"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "opendance", "serve", "--port", str(taken.getsockname()[1])],
            env=opendance_env(data),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        taken.close()
    assert result.returncode != 0
    assert "Created the 'demo' account" not in result.stdout
    # the next start on a free port still creates the demo account and shows its key
    process = ServeProcess(data, free_port(), ("--workers", "0")).start()
    try:
        assert process.demo_key()
    finally:
        process.stop()
