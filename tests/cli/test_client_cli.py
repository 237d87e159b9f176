"""`opendance generate | status | download` against a real server on loopback: the Typer app
in-process (CliRunner) for most flows, real processes for Ctrl-C and the terminal display."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opendance.cli.client_errors import explain
from opendance.cli.client_progress import state_word
from opendance.cli.main import app
from opendance.client import Client, TaskStatus, TransportError
from opendance.client.responses import task as parse_task
from opendance.media.probe import check_output, probe_mp4
from tests.support.live import LiveServer
from tests.support.media import png_bytes
from tests.support.processes import opendance_env

SMALL = ("--resolution", "480p", "--duration", "4")


def _run(live: LiveServer, key: str, *args: str) -> Any:
    env = {"OPENDANCE_BASE_URL": live.url, "OPENDANCE_API_KEY": key}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_generate_wait_saves_a_playable_mp4(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("cli", 100)
    out = tmp_path / "tall.mp4"
    result = _run(
        server,
        key,
        "generate",
        "a lighthouse",
        *SMALL,
        "--aspect-ratio",
        "9:16",
        "--fixed-lens",
        "--seed",
        "3",
        "--wait",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"saved {out} ({out.stat().st_size} bytes)"
    assert "submitted" in result.stderr and "succeeded" in result.stderr
    probe = probe_mp4(out)
    assert check_output(probe, width=480, height=864, fps=24, frame_count=96, audio=False) == []


def test_json_output_is_clean_for_scripts(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("script", 100)
    created = _run(server, key, "generate", "a clock", *SMALL, "--json")
    assert created.exit_code == 0 and created.stderr == ""
    task_id = json.loads(created.stdout)["task_id"]
    assert json.loads(created.stdout) == {"task_id": task_id, "status": "IN_PROGRESS"}

    out = tmp_path / "clock.mp4"
    waited = _run(server, key, "status", task_id, "--wait", "-o", str(out), "--json")
    assert waited.exit_code == 0 and waited.stderr == ""
    data = json.loads(waited.stdout)
    assert data["status"] == "SUCCESS" and data["file"] == str(out) and out.stat().st_size > 0
    assert data["consumed_credits"] == 8 and data["request"]["resolution"] == "480p"

    shown = json.loads(_run(server, key, "status", task_id, "--json").stdout)
    assert shown["task_id"] == task_id and shown["response"] == data["response"]
    human = _run(server, key, "status", task_id).stdout
    assert f"{task_id}  SUCCESS" in human and data["response"][0] in human


def test_download_by_task_id_and_by_url(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("fetcher", 100)
    with Client(server.url, key) as client:
        task = client.generate_and_wait("a kettle", resolution="480p", duration=4, poll=0.1)
    by_id = tmp_path / "by-id.mp4"
    result = _run(server, key, "download", task.task_id, "-o", str(by_id))
    assert result.exit_code == 0, result.stderr
    assert "download by-id.mp4" in result.stderr and "kB" in result.stderr
    by_url = _run(
        server, key, "download", task.video_url or "", "-o", str(tmp_path / "u.mp4"), "--json"
    )
    assert json.loads(by_url.stdout)["bytes"] == by_id.stat().st_size
    assert (tmp_path / "u.mp4").read_bytes() == by_id.read_bytes()
    assert probe_mp4(by_id).frame_count == 96


def test_a_local_image_is_sent_as_a_data_url(server: LiveServer, tmp_path: Path) -> None:
    key = server.create_account("imager", 100)
    image = tmp_path / "green.png"
    image.write_bytes(png_bytes((10, 200, 10)))
    result = _run(
        server, key, "generate", "grass", *SMALL, "--image", str(image), "--wait", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "SUCCESS"
    assert data["request"]["image_urls"][0].startswith("data:image/png;base64,")
    missing = _run(server, key, "generate", "x", "--image", str(tmp_path / "none.png"))
    assert missing.exit_code == 2 and "cannot use --image" in missing.stderr


def test_a_failed_task_exits_non_zero_and_says_it_was_refunded(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("unlucky", 100)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    result = _run(server, key, "generate", "x", *SMALL, "--image", str(broken), "--wait")
    assert result.exit_code == 1
    assert "failed:" in result.stderr and "refunded" in result.stderr


def test_api_errors_get_clear_messages(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("thrifty", 5)
    poor = _run(api_only_server, key, "generate", "costly", "--resolution", "720p")
    assert poor.exit_code == 1
    assert "this request costs 28, the balance is 5 (INSUFFICIENT_CREDITS)" in poor.stderr
    assert "ask the operator for credits" in poor.stderr
    as_json = _run(api_only_server, key, "generate", "costly", "--resolution", "720p", "--json")
    assert json.loads(as_json.stdout)["error"]["code"] == "INSUFFICIENT_CREDITS"
    # a choice the CLI knows is wrong never reaches the server
    odd = _run(api_only_server, key, "generate", "x", "--duration", "5")
    assert odd.exit_code == 2 and "'5' is not one of 4, 8, 12" in odd.stderr
    wordy = _run(api_only_server, key, "generate", "x" * 2001)
    assert wordy.exit_code == 1 and "INVALID_PROMPT" in wordy.stderr
    lost = _run(api_only_server, key, "status", "task_nothere")
    assert lost.exit_code == 1 and "TASK_NOT_FOUND" in lost.stderr
    stranger = _run(api_only_server, "od_wrong", "status", "task_nothere")
    assert "INVALID_API_KEY" in stranger.stderr and "--api-key" in stranger.stderr
    no_key = CliRunner().invoke(app, ["status", "t"], env={"OPENDANCE_API_KEY": ""})
    assert no_key.exit_code == 1 and "OPENDANCE_API_KEY" in no_key.stderr
    not_ready = _run(api_only_server, key, "download", "task_nothere")
    assert not_ready.exit_code == 1 and "TASK_NOT_FOUND" in not_ready.stderr


def test_connection_failures_point_at_the_base_url() -> None:
    shown = explain(TransportError("cannot connect", url="x"), base_url="http://10.9.9.9:1")
    assert shown.code == "CONNECTION_FAILED" and "http://10.9.9.9:1" in (shown.hint or "")


def test_state_words_tell_queued_from_running() -> None:
    base = {"task_id": "t", "status": "IN_PROGRESS", "progress": 0}
    assert state_word(parse_task(base)) == "queued"
    assert state_word(parse_task({**base, "progress": 30})) == "running"
    assert state_word(parse_task({**base, "status": "SUCCESS"})) == "succeeded"
    assert state_word(parse_task({**base, "status": "FAILED"})) == "failed"


def _cli_process(live: LiveServer, key: str, tmp_path: Path, *args: str, **env: str) -> Any:
    # The data directory does not exist: the client commands must not create or open it.
    environment = opendance_env(
        tmp_path / "no-data-here", OPENDANCE_BASE_URL=live.url, OPENDANCE_API_KEY=key, **env
    )
    return subprocess.Popen(
        [sys.executable, "-m", "opendance", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_while_waiting_leaves_the_task_running_and_says_how_to_resume(
    api_only_server: LiveServer, tmp_path: Path
) -> None:
    key = api_only_server.create_account("impatient", 100)
    proc = _cli_process(
        api_only_server,
        key,
        tmp_path,
        "generate",
        "slow",
        *SMALL,
        "--wait",
        "-o",
        str(tmp_path / "later.mp4"),
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "task <id> submitted"; no worker runs, so it stays queued
    assert "submitted" in line, line
    task_id = line.split()[1]
    time.sleep(0.5)  # inside the wait loop by now
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert f"Task {task_id} keeps running" in stderr
    assert f"opendance status {task_id}" in stderr
    assert f"opendance download {task_id} -o {tmp_path / 'later.mp4'}" in stderr
    assert "Traceback" not in stderr and stdout == ""
    with Client(api_only_server.url, key) as client:
        assert client.status(task_id).status is TaskStatus.IN_PROGRESS
    assert not (tmp_path / "no-data-here").exists()
    assert not list(tmp_path.glob("later.mp4*"))


@pytest.mark.skipif(sys.platform == "win32", reason="ANSI terminal emulation via environment")
def test_on_a_terminal_the_progress_goes_from_queued_to_done_then_bytes_and_speed(
    server: LiveServer, tmp_path: Path
) -> None:
    key = server.create_account("watcher", 100)
    out = tmp_path / "shown.mp4"
    proc = _cli_process(
        server,
        key,
        tmp_path,
        "generate",
        "a parade",
        *SMALL,
        "-o",
        str(out),
        TTY_COMPATIBLE="1",
        TTY_INTERACTIVE="1",
        COLUMNS="120",
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stderr.index("queued") < stderr.index("succeeded")
    assert "100%" in stderr
    assert "download shown.mp4" in stderr and "kB" in stderr and "/s" in stderr
    assert stdout.startswith(f"saved {out}")
    assert probe_mp4(out).frame_count == 96
    assert not (tmp_path / "no-data-here").exists()
