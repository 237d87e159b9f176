"""Engine hosts for a worker running N tasks at once: N engine processes (one model copy each,
on one device or spread over several), and the settings that cannot work refused up front.

The engine processes here run the preview engine (``OPENDANCE_ENGINE_PROCESS=process``): the
same spawned children, pipes, crashes and restarts as a model engine, in seconds on a CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.bootstrap import open_context
from opendance.domain.spec import GenerationSpec
from opendance.domain.task_states import TaskState
from opendance.media.probe import check_output, probe_mp4
from opendance.settings import Settings
from opendance.worker.control import RunControl
from opendance.worker.host import (
    HostConfigError,
    ProcessHost,
    ProcessHostPool,
    check_concurrency,
    create_host,
    slot_devices,
)
from opendance.worker.render import RenderedVideo
from opendance.worker.runner import Worker
from tests.conftest import make_settings
from tests.support.factories import account_with_key, submit
from tests.support.media import image_size
from tests.support.processes import opendance_env

SPEC = GenerationSpec(
    prompt="two at once", aspect_ratio="1:1", resolution="480p", duration=4,
    generate_audio=True, fixed_lens=False, seed=7,
)  # fmt: skip


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[ProcessHostPool]:
    host = create_host(make_settings(tmp_path, engine_process="process", worker_concurrency=2))
    assert isinstance(host, ProcessHostPool)
    yield host
    host.close()


def _pids(pool: ProcessHostPool) -> list[int | None]:
    return [host.pid for host in pool.hosts]


def test_two_engine_processes_render_two_videos_at_once(
    pool: ProcessHostPool, tmp_path: Path
) -> None:
    pool.start()
    pids = _pids(pool)
    assert None not in pids and len(set(pids)) == 2
    results: dict[int, RenderedVideo] = {}
    controls = [RunControl(), RunControl()]
    first_progress: dict[int, float] = {}
    finished: dict[int, float] = {}

    def render(slot: int) -> None:
        results[slot] = pool.render(SPEC, tmp_path / f"{slot}.mp4", controls[slot])
        finished[slot] = time.monotonic()

    threads = [threading.Thread(target=render, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for slot, control in enumerate(controls):
            if control.progress > 0:
                first_progress.setdefault(slot, time.monotonic())
        time.sleep(0.005)
    assert sorted(results) == [0, 1]
    # side by side: each had started making progress before the other was done
    assert first_progress[0] < finished[1] and first_progress[1] < finished[0]
    for rendered in results.values():
        probe = probe_mp4(rendered.video_path)
        assert check_output(probe, width=640, height=640, fps=24, frame_count=96, audio=True) == []
        # the stills came over the pipe with the video's path
        assert image_size(rendered.stills.last_frame, "PNG") == (640, 640)
        assert image_size(rendered.stills.sprite, "JPEG") == (800, 800)
    assert _pids(pool) == pids  # loaded once, reused


def test_a_crashed_engine_process_is_restarted_and_the_other_keeps_its_model(
    pool: ProcessHostPool, tmp_path: Path
) -> None:
    pool.start()
    survivor, victim = pool.hosts
    survivor_pid, victim_pid = survivor.pid, victim.pid
    assert victim_pid is not None
    os.kill(victim_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while victim.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    pool.ensure_ready()
    assert victim.starts == 2 and victim.pid not in (None, victim_pid)
    assert survivor.starts == 1 and survivor.pid == survivor_pid
    rendered = pool.render(SPEC, tmp_path / "after.mp4", RunControl())
    assert rendered.video_path.stat().st_size > 0


def test_devices_are_dealt_out_to_the_engine_processes(tmp_path: Path) -> None:
    assert slot_devices("cuda:0,cuda:1", 4) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert slot_devices("cuda", 3) == ["cuda", "cuda", "cuda"]
    assert slot_devices("auto", 1) == ["auto"]
    settings = make_settings(
        tmp_path, engine_process="process", worker_concurrency=2, device="cuda:0, cuda:1"
    )
    pool = create_host(settings)  # nothing starts until start()
    assert isinstance(pool, ProcessHostPool)
    assert [host.settings.device for host in pool.hosts] == ["cuda:0", "cuda:1"]
    single = create_host(settings.model_copy(update={"worker_concurrency": 1, "device": "mps"}))
    assert isinstance(single, ProcessHost) and single.settings.device == "mps"


def test_settings_a_host_cannot_run_are_refused_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(HostConfigError, match="names 3 devices but the worker runs 2"):
        check_concurrency(
            make_settings(
                tmp_path, engine="ltx2", worker_concurrency=2, device="cuda:0,cuda:1,cuda:2"
            )
        )
    with pytest.raises(HostConfigError, match="renders one task at a time"):
        check_concurrency(
            make_settings(tmp_path, engine="wan", engine_process="thread", worker_concurrency=2)
        )
    check_concurrency(make_settings(tmp_path, engine="ltx2", worker_concurrency=4))
    check_concurrency(make_settings(tmp_path, worker_concurrency=8))  # preview: threads


async def test_a_worker_refuses_more_tasks_at_once_than_its_host_renders(
    settings: Settings,
) -> None:
    ctx = await open_context(settings)
    try:
        one_process = ProcessHost(settings.model_copy(update={"engine_process": "process"}))
        with pytest.raises(HostConfigError, match="renders 1 task"):
            Worker(ctx, one_process, concurrency=2)
    finally:
        await ctx.close()


async def test_a_worker_with_two_engine_processes_serves_the_queue(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engine_process="process", worker_concurrency=2)
    ctx = await open_context(settings)
    try:
        owner = await account_with_key(ctx, "pool")
        ids = [await submit(ctx, owner, prompt=f"copy {i}") for i in range(3)]
        worker = Worker(ctx, create_host(settings))
        await worker.run(max_tasks=3)
        async with ctx.db.read() as conn:
            from opendance.db.tasks import get_task

            done = [await get_task(conn, task_id) for task_id in ids]
    finally:
        await ctx.close()
    assert [t.status if t else None for t in done] == [TaskState.SUCCEEDED] * 3


@pytest.mark.parametrize("command", [["worker"], ["serve", "--workers", "1"]])
def test_the_cli_refuses_a_device_list_longer_than_the_concurrency(
    tmp_path: Path, command: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opendance", *command, "--concurrency", "2"],
        env=opendance_env(
            tmp_path / "data", OPENDANCE_ENGINE_PROCESS="process", OPENDANCE_DEVICE="cpu,cpu,cpu"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "error: OPENDANCE_DEVICE names 3 devices but the worker runs 2" in result.stderr
