"""One video over two CPU processes with diffusers' context parallelism (Ulysses, gloo).

The denoising of the tiny Wan pipeline split over two ranks gives the frames one process
gives; a worker whose video is spread over two processes survives a rank killed mid-task
(the task fails with a refund, the next one is made by a new group), and a cancelled task
stops every rank at the same step."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EngineError
from opendance.engines.diffusers.parallel import free_port
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.host import CRASH_MESSAGE, ProcessHost
from tests.models import parallel_ranks
from tests.models.conftest import model_settings
from tests.models.tasks import assert_contract_video, run_task, status_of
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer

# The ranks exchange exact float32 values and sum attention in a different order only through
# SDPA's blocking: the frames agree to float32 rounding (measured: identical on this CPU).
TOLERANCE = 1e-5


def test_two_ranks_over_gloo_make_the_frames_one_process_makes(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    expected = parallel_ranks.single(tiny_models["wan"], tmp_path)
    context = multiprocessing.get_context("spawn")
    port = free_port()
    pipes, processes = [], []
    for rank in range(2):
        ours, theirs = context.Pipe()
        process = context.Process(
            target=parallel_ranks.rank, args=(tiny_models["wan"], tmp_path, rank, port, theirs)
        )
        process.start()
        theirs.close()
        pipes.append(ours)
        processes.append(process)
    results = []
    for conn, process in zip(pipes, processes, strict=True):
        assert conn.poll(240), "a rank did not finish"
        results.append(conn.recv())
        process.join(timeout=30)
        assert process.exitcode == 0
    for frames in results:
        assert frames.shape == expected.shape
        np.testing.assert_allclose(frames, expected, atol=TOLERANCE, rtol=0)
    assert float(np.abs(expected).max()) > 0.01  # frames, not an all-black failure


def _ranks_of(host_pid: int) -> list[int]:
    """The engine process's children that are ranks (not multiprocessing's resource tracker),
    read from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{host_pid}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    return sorted(pid for pid in children if b"resource_tracker" not in _cmdline(pid))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


SPEC = GenerationSpec(
    prompt="a lighthouse in a storm",
    aspect_ratio="1:1",  # 10,000 tokens at 480p: they split evenly over two ranks
    resolution="480p",
    duration=4,
    generate_audio=False,
    fixed_lens=False,
    seed=3,
)


class CancelAtFirstStep(RunControl):
    """Cancelled (as a lost lease cancels) once the first denoising step is reported."""

    def report(self, fraction: float) -> None:
        super().report(fraction)
        if fraction > 0:
            self.cancel("lease lost")


def test_a_cancel_stops_every_rank_at_the_same_step_and_refusals_keep_the_group(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    settings = model_settings(
        tmp_path, engine="wan", model_path=tiny_models["wan"], parallel_devices="cpu,cpu"
    )
    host = ProcessHost(settings)
    host.start()
    try:
        assert host.pid is not None
        ranks = _ranks_of(host.pid)
        assert len(ranks) == 1
        # Rank 0 waits for every rank's end of the task: were rank 1 still denoising, or
        # stuck in a collective that rank 0 left, the second render would never start.
        for attempt in range(2):
            with pytest.raises(RenderCancelled):
                host.render(SPEC, tmp_path / f"{attempt}.mp4", CancelAtFirstStep())
        # Refusals fail the task with their own message and keep the group: one decided
        # before any rank starts (an uneven split), one that every rank makes alike.
        uneven = dataclasses.replace(SPEC, aspect_ratio="16:9")  # 10,125 tokens
        with pytest.raises(EngineError, match="do not split evenly over the worker's 2"):
            host.render(uneven, tmp_path / "uneven.mp4", RunControl())
        with_audio = dataclasses.replace(SPEC, generate_audio=True)
        with pytest.raises(EngineError, match="this worker has no audio model"):
            host.render(with_audio, tmp_path / "audio.mp4", RunControl())
        assert host.alive and host.starts == 1
        assert _ranks_of(host.pid) == ranks  # the same group, still in step
    finally:
        host.close()
    deadline = time.monotonic() + 30  # closing the host ends the ranks too
    while any(_alive(pid) for pid in ranks):
        assert time.monotonic() < deadline, "a rank outlived its engine process"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_rank_fails_its_task_with_a_refund_and_a_new_group_makes_the_next(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    settings = model_settings(
        tmp_path, engine="wan", model_path=tiny_models["wan"], parallel_devices="cpu,cpu"
    )
    server = LiveServer(settings).start()
    try:
        assert server.worker is not None
        host = server.worker.host
        assert isinstance(host, ProcessHost)
        key = server.create_account("ranks", 100)
        with server.client(key) as client:
            body = {"prompt": "doomed", "resolution": "480p", "duration": 4}
            task_id = client.post("/v1/generate", json=body).json()["data"]["task_id"]
        deadline = time.monotonic() + 240
        while status_of(server, key, task_id)["progress"] == 0:
            assert time.monotonic() < deadline, "the task was never started"
            time.sleep(0.05)
        assert host.pid is not None
        first_group = _ranks_of(host.pid)
        assert len(first_group) == 1
        os.kill(first_group[0], signal.SIGKILL)  # rank 1, mid-task
        while (data := status_of(server, key, task_id))["status"] == "IN_PROGRESS":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert data["status"] == "FAILED" and data["error_message"] == CRASH_MESSAGE
        assert data["consumed_credits"] == 0
        assert server.call(lambda c: balance(c, "ranks")) == 100
        _, _, probe, _ = run_task(
            server, key, tmp_path, timeout=600, prompt="after", resolution="480p", duration=4
        )
        assert_contract_video(probe, aspect="1:1", duration=4, audio=False)
        assert host.starts == 2 and host.pid is not None
        assert len(_ranks_of(host.pid)) == 1 and _ranks_of(host.pid) != first_group
        assert server.call(ledger_consistent)
    finally:
        server.stop()


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="reads /proc")
def test_the_group_listens_on_loopback_only() -> None:
    """The rendezvous and the ranks' links are reachable from this machine only: a peer on
    the network must not join the group or feed it tensors."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=parallel_ranks.listening_addresses, args=(free_port(), theirs))
    process.start()
    theirs.close()
    assert ours.poll(120), "the group of one did not start"
    listening = ours.recv()
    process.join(timeout=30)
    assert listening  # the rendezvous at least
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert set(listening) <= loopback, listening
