"""``--log-format json`` on real ``opendance serve`` and ``opendance worker`` processes: every
line of stderr is one JSON object, with the ids of the task, the worker and the request."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendance.bootstrap import open_context
from tests.conftest import make_settings
from tests.support.factories import account_with_key, submit
from tests.support.live import free_port, wait_for_status
from tests.support.processes import opendance_env

pytestmark = pytest.mark.slow

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JUNK_IMAGE = "data:image/png;base64," + base64.b64encode(b"not an image" * 8).decode()


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON (a line that is not fails the test), each with the four
    fields every record has."""
    records = []
    for number, line in enumerate(stderr.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"stderr line {number} is not JSON: {line!r}\n--- stderr ---\n{stderr}")
        assert isinstance(record, dict), line
        assert RFC3339_UTC.match(record["ts"]), line
        assert record["level"] in ("debug", "info", "warning", "error", "critical"), line
        assert isinstance(record["logger"], str) and isinstance(record["message"], str), line
        records.append(record)
    assert records, "nothing was logged"
    return records


def _one(records: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    found = [r for r in records if all(r.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, records)
    return found[0]


def _spawn(
    args: list[str], env: dict[str, str], stdout: Path, stderr: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "opendance", *args],
        env=env,
        stdout=stdout.open("wb"),
        stderr=stderr.open("wb"),
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the process did not stop on SIGTERM")


def test_serve_with_json_logs(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    proc = _spawn(
        ["serve", "--port", str(port), "--workers", "1", "--log-format", "json"],
        opendance_env(data_dir, OPENDANCE_LOG_LEVEL="info"),
        out,
        err,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not (key := re.search(r"^\s+(od_[A-Za-z0-9_\-]+)\s*$", out.read_text(), re.M)):
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=30
        ) as client:
            created = client.post(
                "/v1/generate",
                json={"prompt": "logged", "resolution": "480p", "duration": 4},
                headers={"X-Request-ID": "json-log-test-1"},
            )
            task_id = created.json()["data"]["task_id"]
            assert wait_for_status(client, task_id)["status"] == "SUCCESS"
            assert client.get("/readyz").status_code == 200
    finally:
        _stop(proc)
    records = _json_lines(err.read_text())

    access = _one(records, logger="opendance.access", request_id="json-log-test-1")
    assert (access["method"], access["path"], access["status"]) == ("POST", "/v1/generate", 200)
    assert access["duration_ms"] >= 0
    # the worker is a child of serve: it inherited the format
    claimed = _one(records, logger="opendance.worker", task_id=task_id, attempt=1)
    succeeded = _one(records, logger="opendance.worker", message=f"task {task_id} succeeded")
    assert claimed["worker_id"] == succeeded["worker_id"] and claimed["worker_id"]
    # uvicorn's own loggers use the same formatter
    assert any(r["logger"].startswith("uvicorn") for r in records)


def test_worker_with_json_logs_and_an_engine_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    async def prepare() -> tuple[str, str]:
        ctx = await open_context(settings)
        try:
            owner = await account_with_key(ctx, "logs")
            return await submit(ctx, owner), await submit(ctx, owner, image_urls=[JUNK_IMAGE])
        finally:
            await ctx.close()

    good, bad = asyncio.run(prepare())
    err = tmp_path / "worker.err"
    # the engine in a child process of its own, which configures its logging too
    env = opendance_env(settings.data_dir, OPENDANCE_ENGINE_PROCESS="process")
    proc = _spawn(["worker", "--log-format", "json"], env, tmp_path / "worker.out", err)
    try:
        deadline = time.monotonic() + 120
        while _statuses(settings.data_dir, good, bad) != {"succeeded", "failed"}:
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
    finally:
        _stop(proc)
    records = _json_lines(err.read_text())

    ready = _one(records, logger="opendance.worker", engine="preview")
    worker_id = ready["worker_id"]
    for task_id in (good, bad):
        _one(records, logger="opendance.worker", task_id=task_id, attempt=1, worker_id=worker_id)
    [failed] = [r for r in records if r.get("task_id") == bad and "error" in r]
    assert failed["message"].startswith(f"task {bad} failed: ")
    assert failed["worker_id"] == worker_id and "image" in failed["error"]
    assert _one(records, message=f"worker {worker_id} stopped")["worker_id"] == worker_id


def _statuses(data_dir: Path, *task_ids: str) -> set[str]:
    with sqlite3.connect(data_dir / "opendance.db", timeout=30) as conn:
        marks = ",".join("?" * len(task_ids))
        rows = conn.execute(f"SELECT status FROM tasks WHERE id IN ({marks})", task_ids)  # noqa: S608
        return {row[0] for row in rows}


def test_an_error_before_start_is_a_json_record_too(tmp_path: Path) -> None:
    env = opendance_env(tmp_path / "data", OPENDANCE_ENGINE="upstream")
    result = subprocess.run(
        [sys.executable, "-m", "opendance", "worker", "--log-format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [record] = _json_lines(result.stderr)
    assert record["level"] == "error" and "OPENDANCE_UPSTREAM_URL" in record["message"]


def test_an_unknown_log_format_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opendance", "serve", "--log-format", "yaml"],
        env=opendance_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid value for '--log-format'" in result.stderr and "'yaml'" in result.stderr
