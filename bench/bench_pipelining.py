"""A model worker's throughput with the CPU tail overlapped (``OPENDANCE_PIPELINE_TAIL``) against
the serial worker, measured in one run.

    python bench/bench_pipelining.py [--tasks 6] [--rounds 3] [--gen-seconds G] [--duration 4]

The engine runs in a spawned engine process (``ProcessHost``), the real path of a model
engine. Its generation holds the process's one "device" (a lock) for ``G`` seconds, as a
diffusion pipeline does, then hands over every frame at once (a loop of preview frames at
480p). The tail is real: conform, x264 encode, stills, probe in the engine process, then the
worker's upload to the local store and the fenced completion in SQLite. Its length ``T`` is
measured first in this process (the median of three encodes of the same frames); ``G``
defaults to that ``T``, the case where the overlap gains most.

The engine process's peak resident memory is sampled in both runs: pipelined, it may hold one
more video's frames (the one waiting for the tail) and the encoder's buffers of the one in its
tail, never more however many tasks run.

Both workers run ``--tasks`` tasks from a full queue, each on a fresh SQLite data directory,
taking turns for ``--rounds`` rounds; the figures are the medians.
Tasks per second is the steady rate, (n - 1) over the time from the first task's end to the
last's (the pipeline's fill, the model's load and the first claim stay out of it). The serial
worker's period is G + T' (T' the whole tail there, upload and completion included); the
pipelined worker's period is max(G, T'). Exit status 1 when the pipelined rate falls below
0.9 / max(G, T').
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from opendance.bootstrap import open_context
from opendance.domain.spec import GenerationSpec
from opendance.domain.task_states import TaskState
from opendance.engines.base import EngineCapabilities, GenerationResult, ProgressCallback
from opendance.engines.preview import PreviewEngine
from opendance.services import admin
from opendance.services.submit import submit_generate
from opendance.settings import Settings
from opendance.worker.control import RunControl
from opendance.worker.host import ProcessHost
from opendance.worker.render import encode_tail, generate
from opendance.worker.runner import Worker

LOOP_FRAMES = 24  # distinct frames, repeated: a video's worth of memory stays small


class DeviceBoundEngine:
    """Holds its device for ``gen_seconds`` per video, then returns all the frames at once."""

    name = "preview"
    capabilities = EngineCapabilities(audio=False, image_to_video=False)

    def __init__(self, gen_seconds: float) -> None:
        self.gen_seconds = gen_seconds
        self.device = threading.Lock()
        self._loops: dict[tuple[int, int], list[npt.NDArray[np.uint8]]] = {}

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        loop = self._loop(spec)  # made once per size, at the first task
        with self.device:
            ends = time.monotonic() + self.gen_seconds
            # every video's frames are its own arrays in memory, as a pipeline's output is
            frames = [loop[index % len(loop)].copy() for index in range(spec.frame_count)]
            while (left := ends - time.monotonic()) > 0:
                on_progress(1 - left / self.gen_seconds)
                time.sleep(min(0.05, left))
        return GenerationResult(frames, spec.frame_count, None)

    def _loop(self, spec: GenerationSpec) -> list[npt.NDArray[np.uint8]]:
        size = (spec.width, spec.height)
        if size not in self._loops:
            made = PreviewEngine().generate(spec, lambda _fraction: None)
            self._loops[size] = list(_first(made.frames, LOOP_FRAMES))
        return self._loops[size]


def _first(
    frames: Iterator[npt.NDArray[np.uint8]] | list[npt.NDArray[np.uint8]], count: int
) -> Iterator[npt.NDArray[np.uint8]]:
    for index, frame in enumerate(frames):
        if index == count:
            return
        yield frame


def device_bound_engine(settings: Settings, *, gen_seconds: float) -> DeviceBoundEngine:
    """Module level, so the spawned engine process finds it by name."""
    return DeviceBoundEngine(gen_seconds)


def bench_spec(duration: int) -> GenerationSpec:
    return GenerationSpec(
        prompt="bench", aspect_ratio="1:1", resolution="480p", duration=duration,
        generate_audio=False, fixed_lens=False, seed=1,
    )  # fmt: skip


def measure_tail(spec: GenerationSpec, work: Path, reps: int = 3) -> float:
    """The engine process's tail of one video (encode, stills, probe), median of ``reps``."""
    engine = DeviceBoundEngine(gen_seconds=0.0)
    times = []
    for rep in range(reps):
        generated = generate(engine, spec, RunControl())
        started = time.monotonic()
        encode_tail(generated, work / f"tail-{rep}.mp4")
        times.append(time.monotonic() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Run:
    period: float  # steady seconds per task
    whole: float  # seconds from the first claim to the last end
    peak_rss: int  # the engine process's largest resident set seen, in bytes


async def run_worker(
    *, pipelined: bool, tasks: int, gen_seconds: float, duration: int, root: Path
) -> Run:
    settings = Settings(
        data_dir=root / ("pipelined" if pipelined else "serial"),
        engine_process="process",
        pipeline_tail=pipelined,
        poll_seconds=0.05,
        log_level="warning",
    )
    ctx = await open_context(settings)
    try:
        await admin.create_account(ctx, "bench", 10**9)
        secret = (await admin.create_key(ctx, "bench")).secret
        owner = await ctx.reads.key_owner(secret)
        assert owner is not None
        body = {"prompt": "bench", "resolution": "480p", "duration": duration}
        ids = [await submit_generate(ctx, owner, dict(body)) for _ in range(tasks)]
        engine = partial(device_bound_engine, gen_seconds=gen_seconds)
        host = ProcessHost(settings, create_engine=engine, pipelined=pipelined)
        worker = Worker(ctx, host)
        peak = [0]
        sampling = asyncio.create_task(_sample_rss(host, peak))
        ends: list[float] = []
        worker.on_terminal = lambda: ends.append(time.monotonic())
        started: list[float] = []
        claim = worker._claim

        async def timed_claim() -> object:
            started.append(time.monotonic())
            return await claim()

        worker._claim = timed_claim  # type: ignore[method-assign]  # the first claim's time
        await worker.run(max_tasks=tasks)
        sampling.cancel()
        async with ctx.db.read() as conn:
            from opendance.db.tasks import get_task

            states = [(await get_task(conn, task_id)) for task_id in ids]
        assert all(s is not None and s.status is TaskState.SUCCEEDED for s in states), states
    finally:
        await ctx.close()
    return Run((ends[-1] - ends[0]) / (tasks - 1), ends[-1] - started[0], peak[0])


async def _sample_rss(host: ProcessHost, peak: list[int]) -> None:
    """The engine process's resident memory, every 50 ms (Linux ``/proc``)."""
    while True:
        pid = host.pid
        if pid is not None:
            status = _read_status(pid)
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        await asyncio.sleep(0.05)


def _read_status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()  # a file in memory: no disk wait
    except OSError:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gen-seconds", type=float, default=None, help="G (default: T)")
    parser.add_argument("--duration", type=int, default=4, choices=(4, 8, 12))
    args = parser.parse_args()
    spec = bench_spec(args.duration)
    runs: dict[bool, list[Run]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tail = measure_tail(spec, root)
        gen = args.gen_seconds if args.gen_seconds is not None else tail
        print(f"{args.tasks} tasks of {spec.frame_count} frames at {spec.width}x{spec.height}, "
              f"{args.rounds} rounds")  # fmt: skip
        print(f"G (device hold)         {gen:6.2f} s")
        print(f"T (engine-process tail) {tail:6.2f} s, measured alone")
        for round_ in range(args.rounds):
            # taking turns, each first in every other round: a machine whose load drifts
            # weighs on both alike
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for pipelined in order:
                run = asyncio.run(
                    run_worker(
                        pipelined=pipelined,
                        tasks=args.tasks,
                        gen_seconds=gen,
                        duration=args.duration,
                        root=root / str(round_),
                    )
                )
                runs[pipelined].append(run)
                print(f"  round {round_ + 1} {'pipelined' if pipelined else 'serial':9} "
                      f"{run.period:.2f} s a task")  # fmt: skip
    serial = statistics.median(run.period for run in runs[False])
    pipelined = statistics.median(run.period for run in runs[True])
    whole_tail = serial - gen  # T': the tail as the serial worker lived it
    bound = max(gen, whole_tail)
    video_mib = spec.frame_count * spec.width * spec.height * 3 / 2**20
    peaks = {mode: max(run.peak_rss for run in runs[mode]) / 2**20 for mode in runs}
    for name, period, peak in (
        ("serial", serial, peaks[False]),
        ("pipelined", pipelined, peaks[True]),
    ):
        print(
            f"{name:9} {1 / period:6.3f} tasks/s  ({period:.2f} s a task, median; "
            f"engine process peak {peak:.0f} MiB)"
        )
    print(f"peak memory, pipelined - serial: {peaks[True] - peaks[False]:+.0f} MiB "
          f"(one video's frames: {video_mib:.0f} MiB)")  # fmt: skip
    print(f"T' (whole tail, serial runs) {whole_tail:.2f} s; 1/max(G, T') = {1 / bound:.3f}")
    print(f"pipelined / serial: {serial / pipelined:.2f}x "
          f"(expected (G+T')/max(G,T') = {(gen + whole_tail) / bound:.2f}x)")  # fmt: skip
    share = bound / pipelined
    print(f"pipelined rate / (1/max(G, T')): {share:.2f} (goal >= 0.90)")
    return 0 if share >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
