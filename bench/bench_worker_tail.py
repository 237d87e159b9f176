"""The worker's render with its stills and an exact output size vs. the render with a poster only,
measured in one run.

    python bench/bench_worker_tail.py [--reps 5] [--seconds 12] [--resolution 720p]

(a) stills:   ``render_to_file`` of a preview task: encode, check, poster, sprite sheet and last
              frame, as the worker does it.
(b) scaled:   the same with an output size of 1280x720 (the OpenAI door's ``size``), where the
              preset's frames are another size (1248x704 at 720p): scaled while encoding.
(c) baseline: what the worker did before stills and output sizes: the same frames through
              ``encode_mp4`` with a ``PosterTap``, the same check, the poster.

The preview engine renders lazily, so each run is a whole render (engine and encoder overlap).
The *tail* is what follows the engine's last frame: the encoder's flush, the stills, the check;
that is the time a task waits for after its frames are made. Each figure is the median of
``--reps`` runs, taking turns; CPU seconds (all threads) are printed too, as they stay
meaningful when other work shares the machine. Exit status 1 when the tail of (a) exceeds the
baseline's by more than ``TAIL_BUDGET_SECONDS``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import GenerationResult
from opendance.engines.preview import PreviewEngine
from opendance.media.encode import encode_mp4
from opendance.media.poster import PosterTap
from opendance.media.probe import check_output, probe_mp4
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file

PROMPT = "A red fox trots through a snowy birch forest at dawn, soft light, slow camera"
OUTPUT_SIZE = (1280, 720)
TAIL_BUDGET_SECONDS = 0.1


class TimedPreview:
    """The preview engine, noting when its last frame has been taken."""

    name = "preview"
    capabilities = PreviewEngine.capabilities

    def __init__(self) -> None:
        self.engine = PreviewEngine()
        self.last_frame_at = 0.0

    def generate(
        self, spec: GenerationSpec, on_progress: Callable[[float], None]
    ) -> GenerationResult:
        made = self.engine.generate(replace(spec, output_size=None), on_progress)
        assert isinstance(made, GenerationResult)

        def frames() -> Iterator[npt.NDArray[np.uint8]]:
            yield from made.frames
            self.last_frame_at = time.perf_counter()  # asked for one more: the last is in

        return GenerationResult(frames(), made.frame_count, made.audio)


def stills_run(spec: GenerationSpec, out: Path, engine: TimedPreview) -> None:
    render_to_file(engine, spec, out, RunControl())


def baseline_run(spec: GenerationSpec, out: Path, engine: TimedPreview) -> None:
    """(c): the render as it was before stills and output sizes."""
    result = engine.generate(spec, lambda _fraction: None)
    poster = PosterTap(spec.frame_count)
    encode_mp4(
        poster.wrap(result.frames),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=result.audio,
        out_path=out,
    )
    problems = check_output(
        probe_mp4(out),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=spec.generate_audio,
    )
    assert not problems, problems
    poster.jpeg()


Run = Callable[[GenerationSpec, Path, TimedPreview], None]


def medians(
    runs: dict[str, tuple[Run, GenerationSpec]], out: Path, reps: int
) -> dict[str, tuple[float, float, float]]:
    """Median wall, CPU and tail seconds of each run; the runs take turns, so drift in the
    machine's load hits them alike."""
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, (run, spec) in runs.items():
            engine = TimedPreview()
            start, start_cpu = time.perf_counter(), time.process_time()
            run(spec, out, engine)
            end = time.perf_counter()
            figures[name].append(
                (end - start, time.process_time() - start_cpu, end - engine.last_frame_at)
            )
    return {
        name: (
            statistics.median(f[0] for f in found),
            statistics.median(f[1] for f in found),
            statistics.median(f[2] for f in found),
        )
        for name, found in figures.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=12, choices=(4, 8, 12))
    parser.add_argument("--resolution", default="720p", choices=("480p", "720p"))
    args = parser.parse_args()
    spec = GenerationSpec(
        prompt=PROMPT,
        aspect_ratio="16:9",
        resolution=args.resolution,
        duration=args.seconds,
        generate_audio=True,
        fixed_lens=False,
        seed=42,
    )
    scaled = replace(spec, output_size=OUTPUT_SIZE)
    print(
        f"{spec.width}x{spec.height} (scaled: {OUTPUT_SIZE[0]}x{OUTPUT_SIZE[1]}), "
        f"{spec.frame_count} frames at {spec.fps} fps, audio; median of {args.reps}"
    )
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        out = Path(tmp) / "out.mp4"
        stills_run(spec, out, TimedPreview())  # warm-up
        times = medians(
            {
                "baseline": (baseline_run, spec),
                "stills": (stills_run, spec),
                "scaled": (stills_run, scaled),
            },
            out,
            args.reps,
        )
    labels = {
        "baseline": "(c) baseline: encode, check, poster",
        "stills": "(a) render_to_file: + sprite sheet, last frame",
        "scaled": f"(b) render_to_file at {OUTPUT_SIZE[0]}x{OUTPUT_SIZE[1]}",
    }
    for name, label in labels.items():
        wall, cpu, tail = times[name]
        print(f"{label:48} {wall:5.2f} s wall, {cpu:5.2f} s cpu, tail {tail * 1000:4.0f} ms")
    base_wall, base_cpu, base_tail = times["baseline"]
    for name in ("stills", "scaled"):
        wall, cpu, tail = times[name]
        print(
            f"{name}: a/c = {wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} cpu; "
            f"tail {1000 * (tail - base_tail):+.0f} ms"
        )
    extra = times["stills"][2] - base_tail
    verdict = "ok" if extra <= TAIL_BUDGET_SECONDS else "TOO SLOW"
    print(f"tail of (a) over (c): {extra * 1000:+.0f} ms (budget {TAIL_BUDGET_SECONDS * 1000:.0f})")
    print(verdict)
    return 0 if extra <= TAIL_BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
