"""The model's child process: a crash fails one task with a refund and the worker carries on
with a fresh child; a model that cannot load stops the worker with the reason."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from opendance.domain.task_states import TaskState
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.worker.host import CRASH_MESSAGE, EngineLoadFailed, ProcessHost
from tests.models.tasks import assert_contract_video, run_task, status_of
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer


def _wait_for_claim(server: LiveServer, key: str, task_id: str) -> None:
    deadline = time.monotonic() + 180  # a model loads slowly on a busy CPU
    while status_of(server, key, task_id)["progress"] == 0:
        assert time.monotonic() < deadline, "the task was never started"
        time.sleep(0.05)


def _long_task_started(server: LiveServer, key: str, prompt: str) -> tuple[ProcessHost, str]:
    """The server's engine host and a 12 s task that its model process has started on."""
    assert server.worker is not None
    host = server.worker.host
    assert isinstance(host, ProcessHost)
    with server.client(key) as client:
        body = {"prompt": prompt, "resolution": "480p", "duration": 12}
        task_id = client.post("/v1/generate", json=body).json()["data"]["task_id"]
    _wait_for_claim(server, key, task_id)
    return host, task_id


def test_a_killed_model_process_fails_its_task_with_a_refund_and_is_replaced(
    ltx2_server: LiveServer, tmp_path: Path
) -> None:
    key = ltx2_server.create_account("crash", 100)
    host, task_id = _long_task_started(ltx2_server, key, "doomed")
    pid = host.pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer does
    deadline = time.monotonic() + 180  # a model loads slowly on a busy CPU
    while (data := status_of(ltx2_server, key, task_id))["status"] == "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert data["status"] == "FAILED" and data["error_message"] == CRASH_MESSAGE
    assert data["consumed_credits"] == 0
    assert ltx2_server.call(lambda c: balance(c, "crash")) == 100
    # the same worker goes on with a new child process
    _, _, probe, _ = run_task(
        ltx2_server, key, tmp_path, prompt="after", resolution="480p", duration=4
    )
    assert_contract_video(probe, aspect="1:1", duration=4, audio=False)
    assert host.starts == 2 and host.pid != pid
    assert ltx2_server.call(ledger_consistent)


def test_a_model_that_cannot_load_stops_the_host_with_the_reason(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    wrong_kind = Settings(
        data_dir=tmp_path, engine="ltx2", model_path=tiny_models["wan"], inference_steps=2
    )
    host = ProcessHost(wrong_kind)
    with pytest.raises(EngineLoadFailed, match="holds a WanPipeline, expected LTX2Pipeline"):
        host.start()
    assert host.pid is None  # the child is gone, not left behind


def test_sigterm_to_the_worker_process_group_drains_the_model_task(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    """A service manager signals the whole group, the model's child process included: the
    child ignores it and the worker finishes the task before it stops."""
    import subprocess
    import sys

    from tests.cli.test_serve import _client, _wait_running
    from tests.support.live import free_port
    from tests.support.processes import ServeProcess, opendance_env

    api = ServeProcess(tmp_path / "data", free_port(), ("--workers", "0")).start()
    env = opendance_env(api.data_dir, OPENDANCE_INFERENCE_STEPS="2")
    worker = subprocess.Popen(
        [sys.executable, "-m", "opendance", "worker", "--engine", "ltx2",
         "--model", str(tiny_models["ltx2"])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        key = api.demo_key()
        with _client(api.url, key) as client:
            body = {"prompt": "drain the model", "resolution": "480p", "duration": 12}
            task_id = client.post("/v1/generate", json=body).json()["data"]["task_id"]
            assert _wait_running(api.data_dir, task_id, timeout=120) == worker.pid
            os.killpg(worker.pid, signal.SIGTERM)
            assert worker.wait(180) == 0
            data = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
        assert data["status"] == "SUCCESS", data
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        api.stop()


def test_a_cancelled_model_task_stops_in_its_child_and_the_child_serves_on(
    ltx2_server: LiveServer, tmp_path: Path
) -> None:
    key = ltx2_server.create_account("cancel", 100)
    host, task_id = _long_task_started(ltx2_server, key, "unwanted")

    async def cancel(ctx: AppContext) -> TaskState:
        owner = await ctx.reads.key_owner(key)
        assert owner is not None
        return (await tasks.cancel(ctx, owner.account_id, task_id)).status

    assert ltx2_server.call(cancel) is TaskState.CANCELLED
    data = status_of(ltx2_server, key, task_id)
    assert data["status"] == "FAILED" and data["error_message"] == tasks.CANCELLED_MESSAGE
    assert data["consumed_credits"] == 0 and data["response"] == []
    assert ltx2_server.call(lambda c: balance(c, "cancel")) == 100
    assert ltx2_server.worker is not None
    deadline = time.monotonic() + 60  # the child stops at its next step, the slot frees up
    while ltx2_server.worker.in_hand:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the same child process makes the next video: a cancel does not cost a model reload
    _, _, probe, _ = run_task(
        ltx2_server, key, tmp_path, prompt="wanted", resolution="480p", duration=4
    )
    assert_contract_video(probe, aspect="1:1", duration=4, audio=False)
    assert host.starts == 1
    assert ltx2_server.call(ledger_consistent)
