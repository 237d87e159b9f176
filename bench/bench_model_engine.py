"""Model engines (LTX-2, Wan) vs. their bare diffusers pipelines, on tiny models, in one run.

    python bench/bench_model_engine.py [--rounds 5] [--wan-rounds 2] [--cases ltx2-480p,wan-480p]

The models are tiny random-weight pipelines of the real architectures (``make_tiny``), built into
a temporary directory: no network, no weights. Their transformers are tiny but their VAEs decode
full-size contract videos, so what is measured is everything around the denoiser at the real
geometry. For each case:

(a) direct:  the engine's own diffusers pipeline called with exactly the engine's arguments
             (``engine.call_arguments``, built before the clock starts, progress callback
             removed). The floor: what the video costs in diffusers alone.
(b) engine:  ``engine.generate`` plus consuming its lazy frames (conformed to 24 fps, exact size,
             uint8): the engine side of a worker task, encoding excluded. Target b/a <= 1.05,
             reported two ways: across runs (median of b over median of a) and in-call (each
             engine run over the pipeline call inside it, clocked by a stand-in for the
             engine's pipeline). The in-call figure is immune to run-to-run noise; the
             across-run one also catches an engine that made the pipeline itself slower.
(c) task:    ``render_to_file``: generate, conform, encode, probe check, poster. The whole
             worker-side task minus storage.
(d) encode:  ``render_to_file`` of the same frames handed over ready-made: the encoding tail
             (encode + check + poster) alone. The encoding share of a task is d/c.

The four runs take turns within a round and the order rotates from round to round, so drift in
the machine's load hits them alike; every figure is a median over rounds, in wall seconds and in
CPU seconds of the whole process (all threads), which stay meaningful on a busy machine.

Warm worker: in a fresh child process, as the worker's engine process, the imports, the model
load (``create_engine``) and then two tasks on the same engine instance, with a count of
pipeline loads during the tasks (0: a task never pays for a load).

Exit status is non-zero only on errors; a missed target prints MISS.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import AudioTrack, EngineCapabilities, GenerationResult
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file

TARGET_RATIO: Final = 1.05
STEPS: Final = 2
PROMPT: Final = "A red fox trots through a snowy birch forest at dawn, soft light, slow camera"


@dataclass(frozen=True)
class Case:
    kind: str
    resolution: str
    duration: int
    audio: bool

    def spec(self) -> GenerationSpec:
        return GenerationSpec(
            prompt=PROMPT,
            aspect_ratio="16:9",
            resolution=self.resolution,
            duration=self.duration,
            generate_audio=self.audio,
            fixed_lens=False,
            seed=42,
        )


# Wan makes video only (sound comes from a separate audio model), so its cases have no audio.
CASES: Final = {
    "ltx2-480p": Case("ltx2", "480p", 4, audio=True),
    "ltx2-720p": Case("ltx2", "720p", 4, audio=True),
    "wan-480p": Case("wan", "480p", 4, audio=False),
}


def noop(_fraction: float) -> None:
    pass


def pipeline_arguments(engine: Any, spec: GenerationSpec) -> dict[str, Any]:
    """The engine's pipeline arguments for ``spec``, without the progress callback."""
    if engine.name == "wan":
        args: dict[str, Any] = engine.call_arguments(spec, noop, 1.0)
    else:
        args = engine.call_arguments(spec, noop)
    args.pop("callback_on_step_end", None)
    return args


class ReadyEngine:
    """Hands ``render_to_file`` frames that already exist: what is left is the encoding tail."""

    name = "ready"
    capabilities = EngineCapabilities(audio=True, image_to_video=False)

    def __init__(self, frames: list[npt.NDArray[np.uint8]], audio: AudioTrack | None) -> None:
        self.frames, self.audio = frames, audio

    def generate(self, spec: GenerationSpec, on_progress: Callable[[float], None]) -> Any:
        return GenerationResult(frames=self.frames, frame_count=spec.frame_count, audio=self.audio)


def timed(run: Callable[[], object]) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - start, time.process_time() - start_cpu


def build_models(kinds: set[str], directory: Path) -> dict[str, Path]:
    from opendance.engines.diffusers.tiny import make_tiny

    return {kind: make_tiny(kind, directory / kind) for kind in sorted(kinds)}


def create(kind: str, model: Path) -> Any:
    from opendance.engines.registry import create_engine
    from opendance.settings import Settings

    settings = Settings(engine=kind, model_path=model, inference_steps=STEPS, device="cpu")
    return create_engine(settings)


# --- warm worker: a fresh process, as the worker's engine process -------------------------------


def warm_worker_child(kind: str, model: Path, case_name: str, out_dir: Path) -> None:
    """Runs in the child: imports, load, two tasks; prints one JSON line."""
    start = time.perf_counter()
    import diffusers
    import torch

    imports = time.perf_counter() - start
    loads = 0
    original = diffusers.DiffusionPipeline.from_pretrained.__func__

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal loads
        loads += 1
        return original(cls, *args, **kwargs)

    # Counts every pipeline load, by the engine or anything it calls, from here on.
    diffusers.DiffusionPipeline.from_pretrained = classmethod(counting)
    load = time.perf_counter()
    engine = create(kind, model)
    load = time.perf_counter() - load
    loads_at_start = loads
    spec = CASES[case_name].spec()
    tasks = []
    for index in range(2):
        before = loads
        out_path = out_dir / f"warm{index}.mp4"
        wall, cpu = timed(partial(render_to_file, engine, spec, out_path, RunControl()))
        tasks.append({"wall": wall, "cpu": cpu, "loads": loads - before})
    print(
        json.dumps(
            {
                "imports": imports,
                "load": load,
                "loads_at_start": loads_at_start,
                "tasks": tasks,
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


def warm_worker(kind: str, model: Path, case_name: str, out_dir: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--warm-worker-child", kind, str(model), case_name]
    command.append(str(out_dir))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"warm-worker child failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- engine overhead -----------------------------------------------------------------------------


@dataclass
class Figures:
    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    same_frames: bool

    def median(self, name: str, cpu: bool = False) -> float:
        return statistics.median((self.cpu if cpu else self.wall)[name])

    def paired_ratio(self, top: str, bottom: str, cpu: bool = False) -> float:
        """Median over rounds of the ratio within each round (robust to slow drift)."""
        times = self.cpu if cpu else self.wall
        return statistics.median(t / b for t, b in zip(times[top], times[bottom], strict=True))


class TimedPipe:
    """Stands in for the engine's pipeline and clocks each call: the pipeline's share of an
    engine run, measured inside that very run."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.clock = (0.0, 0.0)

    def __call__(self, **kwargs: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        output = self.pipe(**kwargs)
        self.clock = (time.perf_counter() - start, time.process_time() - start_cpu)
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def measure_case(engine: Any, case: Case, rounds: int, out_dir: Path) -> Figures:
    from opendance.engines.diffusers.tensors import as_float32, first_video
    from opendance.engines.diffusers.timing import conform_frames, to_uint8

    spec = case.spec()
    pipe = engine.text_pipe
    native_fps = 24.0 if engine.name == "ltx2" else float(engine.native_fps(pipe))

    # Warm-up (untimed): one direct call, which also gives the frames for (d) and the reference
    # first frame the engine's output must match (same seed, same arguments).
    output = pipe(**pipeline_arguments(engine, spec))
    video = first_video(output.frames)
    ready = list(
        conform_frames(
            video,
            source_fps=native_fps,
            width=spec.width,
            height=spec.height,
            count=spec.frame_count,
            fps=spec.fps,
        )
    )
    reference = to_uint8(video[0])
    audio = None
    if spec.generate_audio:
        audio = AudioTrack(as_float32(output.audio[0]), int(engine.sample_rate))
    del output, video
    first: list[npt.NDArray[np.uint8]] = []
    timed_pipe = TimedPipe(pipe)
    clock: list[tuple[float, float]] = []  # the direct call's own clock, set per run

    def direct() -> None:
        args = pipeline_arguments(engine, spec)
        run = time.perf_counter(), time.process_time()
        pipe(**args)
        # Argument building stays outside the clock: the baseline is the bare pipeline call.
        clock.append((time.perf_counter() - run[0], time.process_time() - run[1]))

    def engine_side() -> None:
        engine.text_pipe = timed_pipe
        try:
            result = engine.generate(spec, noop)
        finally:
            engine.text_pipe = pipe
        assert isinstance(result, GenerationResult)
        for index, frame in enumerate(result.frames):
            if index == 0:
                first.append(frame)

    def task() -> None:
        render_to_file(engine, spec, out_dir / "task.mp4", RunControl())

    def encode() -> None:
        render_to_file(ReadyEngine(ready, audio), spec, out_dir / "encode.mp4", RunControl())

    runs: dict[str, Callable[[], None]] = {
        "direct": direct,
        "engine": engine_side,
        "task": task,
        "encode": encode,
    }
    wall: dict[str, list[float]] = {name: [] for name in [*runs, "inner"]}
    cpu: dict[str, list[float]] = {name: [] for name in [*runs, "inner"]}
    names = list(runs)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            clock.clear()
            measured = timed(runs[name])
            w, c = clock[0] if clock else measured
            wall[name].append(w)
            cpu[name].append(c)
            if name == "engine":  # the pipeline call inside this engine run
                wall["inner"].append(timed_pipe.clock[0])
                cpu["inner"].append(timed_pipe.clock[1])
        print(
            f"  round {round_index + 1}/{rounds}: "
            + ", ".join(f"{name} {wall[name][-1]:.2f} s" for name in names),
            flush=True,
        )
    same = all(np.array_equal(frame, reference) for frame in first)
    return Figures(wall, cpu, same_frames=same)


def verdict(ratio: float) -> str:
    return "PASS" if ratio <= TARGET_RATIO else "MISS"


def describe(case: Case, engine: Any) -> str:
    spec = case.spec()
    generated = pipeline_arguments(engine, spec)
    return (
        f"{case.kind} 16:9 {case.resolution} {case.duration} s: generated "
        f"{generated['width']}x{generated['height']}, {generated['num_frames']} frames -> "
        f"{spec.frame_count} at {spec.fps} fps, audio={case.audio}, {STEPS} steps"
    )


def report_case(figures: Figures) -> dict[str, float]:
    labels = {
        "direct": "(a) direct pipeline call",
        "engine": "(b) engine.generate + frames",
        "inner": "    of which its pipeline call",
        "task": "(c) task: render_to_file",
        "encode": "(d) encode + check + poster",
    }
    for key, label in labels.items():
        wall, cpu = figures.median(key), figures.median(key, cpu=True)
        print(f"  {label:32} {wall:7.2f} s wall {cpu:7.2f} s cpu")
    row = {
        "direct": figures.median("direct"),
        "engine": figures.median("engine"),
        "task": figures.median("task"),
        "encode": figures.median("encode"),
        # across runs: (b) against (a), both medians over rounds
        "ratio": figures.median("engine") / figures.median("direct"),
        "ratio_cpu": figures.median("engine", cpu=True) / figures.median("direct", cpu=True),
        # in-call: each engine run against the pipeline call inside it (no run-to-run noise)
        "in_call": figures.paired_ratio("engine", "inner"),
        "in_call_cpu": figures.paired_ratio("engine", "inner", cpu=True),
        "share": figures.median("encode") / figures.median("task"),
        "share_cpu": figures.median("encode", cpu=True) / figures.median("task", cpu=True),
    }
    own = statistics.median(
        e - i for e, i in zip(figures.wall["engine"], figures.wall["inner"], strict=True)
    )
    print(
        f"  engine overhead b/a across runs: {row['ratio']:.3f} wall {verdict(row['ratio'])}, "
        f"{row['ratio_cpu']:.3f} cpu {verdict(row['ratio_cpu'])} (target <= {TARGET_RATIO})"
    )
    print(
        f"  engine overhead in-call (b / its pipeline call): {row['in_call']:.3f} wall "
        f"{verdict(row['in_call'])}, {row['in_call_cpu']:.3f} cpu "
        f"{verdict(row['in_call_cpu'])}; the engine's own work {own:.2f} s"
    )
    print(
        f"  encoding share of the task d/c: {row['share']:.0%} wall, {row['share_cpu']:.0%} cpu "
        f"(c - b = {figures.median('task') - figures.median('engine'):.2f} s)"
    )
    print(f"  engine frames equal the direct call's: {'yes' if figures.same_frames else 'NO'}")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds for the LTX-2 cases")
    parser.add_argument("--wan-rounds", type=int, default=2, help="rounds for Wan (~1 min each)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"of {', '.join(CASES)}")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-worker part")
    parser.add_argument("--warm-worker-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_worker_child:
        kind, model, case_name, out_dir = args.warm_worker_child
        warm_worker_child(kind, Path(model), case_name, Path(out_dir))
        return 0
    names = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None:
        print("bench_model_engine: skipped, the model engines need: pip install -e '.[models]'")
        return 0
    import torch

    print(
        f"{os.cpu_count()} CPU cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, load average {os.getloadavg()[0]:.2f}; tiny random-weight models"
    )
    summary: dict[str, dict[str, float]] = {}
    warm: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        out_dir = Path(tmp)
        models = build_models({CASES[name].kind for name in names}, out_dir / "models")
        if not args.no_warm:
            for kind in models:
                first_case = next(name for name in names if CASES[name].kind == kind)
                print(f"warm worker: {kind}, fresh process, {first_case} ...", flush=True)
                warm[kind] = warm_worker(kind, models[kind], first_case, out_dir)
        engines = {kind: create(kind, path) for kind, path in models.items()}
        for name in names:
            case = CASES[name]
            engine = engines[case.kind]
            rounds = args.wan_rounds if case.kind == "wan" else args.rounds
            print(f"{describe(case, engine)}; median of {rounds} rounds", flush=True)
            figures = measure_case(engine, case, rounds, out_dir)
            summary[name] = report_case(figures)
    print()
    print(
        "case        direct(a)  engine(b)  task(c)  encode(d)  b/a runs     b/a in-call  "
        "d/c (wall; cpu)"
    )
    for name, row in summary.items():
        print(
            f"{name:11} {row['direct']:8.2f} s {row['engine']:8.2f} s {row['task']:6.2f} s "
            f"{row['encode']:7.2f} s  {row['ratio']:.3f} {verdict(row['ratio'])}   "
            f"{row['in_call']:.3f} {verdict(row['in_call'])}   "
            f"{row['share']:.0%}; {row['share_cpu']:.0%}"
        )
    for kind, child in warm.items():
        task1, task2 = child["tasks"]
        print(
            f"warm worker {kind}: imports {child['imports']:.2f} s, create_engine "
            f"{child['load']:.2f} s ({child['loads_at_start']} pipeline load), task 1 "
            f"{task1['wall']:.2f} s ({task1['loads']} loads), task 2 {task2['wall']:.2f} s "
            f"({task2['loads']} loads)"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
