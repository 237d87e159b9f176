"""Seconds per video on a GPU with real weights, recipe by recipe: time per task, peak GPU
memory, and how far each recipe's video is from the ``quality`` recipe's for the same seed.

    python bench/gpu_video_bench.py --engine ltx2 --model /models/ltx-2 --durations 4 8 12
    python bench/gpu_video_bench.py --engine wan --model /models/wan2.2-ti2v-5b \\
        --audio-model /models/stable-audio-open-1.0 --recipes quality balanced fast
    python bench/gpu_video_bench.py --engine ltx2 --model /models/ltx-2-distilled --distilled
    python bench/gpu_video_bench.py --engine ltx2 --tiny      # CPU, tiny random weights: a dry run

Each recipe (``--recipes``, default all three presets; ``quality`` is always run first, as the
reference) loads its own engine, runs a first task that pays one-off costs (kernel selection,
``torch.compile``) and is kept out of the medians, then ``--repeats`` tasks per duration. A
task is what a worker does with it, minus storage: ``render_to_file`` (``engine.generate``,
frames conformed to the contract, H.264/AAC encode, probe check, poster), in this process.

Reported per recipe and duration (16:9 unless ``--aspect-ratio``, 720p unless
``--resolution``): the median seconds per video and its speed-up over ``quality`` in the same
run; how it splits into generation (text encoding, denoising, VAE decode, audio) and the
worker's tail (conform, encode, check, poster); the peak GPU memory
(``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``; on a CPU the process's
peak RSS, which never goes down, so later rows carry earlier peaks); and the quality figure:
PSNR and SSIM (``video_quality``) of up to 16 evenly spaced frames of the first timed video
against the ``quality`` recipe's frames of the same seed and duration. Every recipe part the
flags set (``--distilled``, ``--lora``, ``--step-cache``, ``--compile``, ``--quantization``,
``--steps``, ...) applies to every recipe, as the same settings do in a worker.

Durations: the default is 4 and 8 s; the API offers 4, 8 and 12 s (``--durations 4 8 12``).
Any whole number of seconds runs (the engine does not restrict it); rows that are not API
durations are starred.

The table goes to stdout, everything (settings, recipes, runtime, versions, GPU, every sample)
to the ``--json`` file.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from opendance.domain import presets
from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EncodedVideo, EngineCapabilities, GenerationResult
from opendance.errors import OpendanceError
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file
from video_quality import psnr, ssim

PROMPT: Final = (
    "A red fox trots through a snowy birch forest at dawn; soft golden light, slow dolly shot, "
    "breath visible in the cold air, the crunch of snow underfoot"
)
GIB: Final = 1024**3
RECIPES: Final = ("quality", "balanced", "fast")
REFERENCE: Final = "quality"
COMPARED_FRAMES: Final = 16
SEED: Final = 42

Frame = npt.NDArray[np.uint8]


class TimedEngine:
    """Passes ``generate`` through to the engine, records how long it took and keeps evenly
    spaced frames of the video when asked to (the frames stay lazy: the encoder pulls them)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name: str = engine.name
        self.capabilities: EngineCapabilities = engine.capabilities
        self.seconds = 0.0
        self.keep_frames = False
        self.kept: list[Frame] = []

    def generate(
        self, spec: GenerationSpec, on_progress: Callable[[float], None]
    ) -> GenerationResult | EncodedVideo:
        start = time.perf_counter()
        result: GenerationResult | EncodedVideo = self.engine.generate(spec, on_progress)
        self.seconds = time.perf_counter() - start  # outputs are numpy: the GPU is done here
        if self.keep_frames and isinstance(result, GenerationResult):
            self.kept = []
            wanted = sampled_indices(result.frame_count)
            result = GenerationResult(
                frames=self._tap(result.frames, wanted),
                frame_count=result.frame_count,
                audio=result.audio,
            )
        return result

    def _tap(self, frames: Iterable[Frame], wanted: set[int]) -> Iterator[Frame]:
        for index, frame in enumerate(frames):
            if index in wanted:
                self.kept.append(np.array(frame, copy=True))
            yield frame


def sampled_indices(count: int) -> set[int]:
    return {int(i) for i in np.linspace(0, count - 1, min(count, COMPARED_FRAMES)).round()}


class Device:
    """CUDA memory statistics where there is CUDA; host memory (peak RSS) otherwise."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda") and torch.cuda.is_available()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def release(self) -> None:
        """Give back the memory of an engine no longer referenced (before the next recipe)."""
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def memory(self) -> dict[str, float]:
        if self.cuda:
            cuda = self.torch.cuda
            return {
                "allocated_gib": cuda.memory_allocated() / GIB,
                "peak_allocated_gib": cuda.max_memory_allocated() / GIB,
                "peak_reserved_gib": cuda.max_memory_reserved() / GIB,
            }
        # ru_maxrss is in KiB on Linux; it is the process's peak so far, never reset.
        return {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}

    def describe(self) -> dict[str, Any]:
        import diffusers

        info: dict[str, Any] = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "torch": self.torch.__version__,
            "diffusers": diffusers.__version__,
            "torch_threads": self.torch.get_num_threads(),
        }
        if self.cuda:
            props = self.torch.cuda.get_device_properties(0)
            info.update(
                cuda=self.torch.version.cuda,
                gpu=props.name,
                gpu_memory_gib=props.total_memory / GIB,
                gpu_count=self.torch.cuda.device_count(),
            )
        return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from opendance.settings import CHOICES

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--engine", choices=("ltx2", "wan"), required=True)
    parser.add_argument("--model", type=Path, help="the engine's diffusers pipeline directory")
    parser.add_argument("--audio-model", type=Path, help="wan: a StableAudioPipeline directory")
    parser.add_argument("--image-model", type=Path, help="wan: a WanImageToVideoPipeline dir")
    parser.add_argument(
        "--recipes", nargs="+", choices=RECIPES, help="presets to compare (default: all three)"
    )
    parser.add_argument("--device", help="cuda (default), cuda:N, mps or cpu")
    parser.add_argument("--dtype", choices=CHOICES["dtype"], help="default bf16")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the recipe's)")
    parser.add_argument("--guidance-scale", type=float)
    parser.add_argument("--distilled", action="store_true", help="--model is step-distilled")
    parser.add_argument("--lora", type=Path, help="a few-step distillation LoRA directory")
    parser.add_argument("--step-cache", choices=CHOICES["step_cache"], help="for every recipe")
    parser.add_argument("--cache-threshold", type=float)
    parser.add_argument("--quantization", choices=CHOICES["quantization"], default="none")
    parser.add_argument(
        "--compile", nargs="?", const="full", choices=CHOICES["compile"],
        help="for every recipe (alone: full, as before); default: the recipe's",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, help="timed tasks per duration (default 3)")
    parser.add_argument(
        "--durations", type=int, nargs="+", metavar="S", help="seconds (default 4 8)"
    )
    parser.add_argument("--resolution", choices=presets.RESOLUTIONS, help="default 720p")
    parser.add_argument("--aspect-ratio", default="16:9", choices=presets.ASPECT_RATIOS)
    parser.add_argument("--no-audio", action="store_true", help="generate_audio=false")
    parser.add_argument("--cpu-offload", action="store_true", help="model CPU offload")
    tiling = parser.add_mutually_exclusive_group()
    tiling.add_argument(
        "--vae-tiling", dest="vae_tiling", action="store_true", default=None,
        help="decode in tiles (default: on for CUDA)",
    )  # fmt: skip
    tiling.add_argument("--no-vae-tiling", dest="vae_tiling", action="store_false")
    parser.add_argument("--vae-slicing", action="store_true")
    parser.add_argument("--attention-backend", help="a diffusers attention backend, e.g. flash")
    parser.add_argument("--no-warmup", action="store_true", help="time the first task too")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="build tiny random-weight models and run on the CPU (defaults: fp32, 6 steps, "
        "480p, 4 s, 1 repeat, no warm-up unless --compile, no audio model for wan); checks "
        "the script end to end",
    )
    args = parser.parse_args(argv)
    if not args.tiny and args.model is None:
        parser.error("--model is required (or --tiny for a dry run with tiny models)")
    # What is not given: a GPU run's defaults, or a quick CPU dry run's with --tiny.
    defaults: dict[str, Any] = (
        {"device": "cpu", "dtype": "fp32", "steps": 6, "resolution": "480p", "durations": [4]}
        | {"repeats": 1}
        if args.tiny
        else {"device": "cuda", "dtype": "bf16", "resolution": "720p", "durations": [4, 8]}
        | {"repeats": 3}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.tiny and args.compile is None:
        args.no_warmup = True  # nothing to compile or tune on the CPU: every task is alike
    if args.repeats < 1 or any(seconds < 1 for seconds in args.durations):
        parser.error("--repeats and --durations must be at least 1")
    chosen = args.recipes or list(RECIPES)
    args.recipes = [REFERENCE, *(name for name in chosen if name != REFERENCE)]
    return args


def build_tiny(args: argparse.Namespace, directory: Path) -> None:
    from opendance.engines.diffusers.tiny import make_tiny

    args.model = make_tiny(args.engine, directory / args.engine)


def make_settings(args: argparse.Namespace, recipe: str) -> Any:
    from opendance.settings import Settings

    return Settings(
        engine=args.engine,
        model_path=args.model,
        audio_model_path=args.audio_model,
        image_model_path=args.image_model,
        device=args.device,
        dtype=args.dtype,
        cpu_offload=args.cpu_offload,
        vae_tiling=args.vae_tiling,
        vae_slicing=args.vae_slicing,
        attention_backend=args.attention_backend,
        recipe=recipe,
        step_cache=args.step_cache,
        cache_threshold=args.cache_threshold,
        compile=args.compile,
        distilled=args.distilled,
        lora_path=args.lora,
        quantization=args.quantization,
        inference_steps=args.steps,
        guidance_scale=args.guidance_scale,
    )


def generated_frames(engine: Any, spec: GenerationSpec) -> tuple[int, int, int]:
    """Width, height and frame count the model generates for ``spec``."""

    def noop(_fraction: float) -> None:
        pass

    if engine.name == "wan":
        call = engine.call_arguments(spec, noop, 1.0)
    else:
        call = engine.call_arguments(spec, noop)
    return int(call["width"]), int(call["height"]), int(call["num_frames"])


def run_task(
    engine: TimedEngine, device: Device, spec: GenerationSpec, out: Path
) -> dict[str, float]:
    device.sync()
    start = time.perf_counter()
    render_to_file(engine, spec, out, RunControl())
    device.sync()
    total = time.perf_counter() - start
    return {"total": total, "generate": engine.seconds, "tail": total - engine.seconds}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except OpendanceError as exc:  # a model setting that cannot work here: say what, no trace
        print(f"gpu_video_bench: {exc}", file=sys.stderr)
        return 2


def spec_for(args: argparse.Namespace, seconds: int, audio: bool) -> GenerationSpec:
    return GenerationSpec(
        prompt=PROMPT,
        aspect_ratio=args.aspect_ratio,
        resolution=args.resolution,
        duration=seconds,
        generate_audio=audio,
        fixed_lens=False,
        seed=SEED,
    )


def run_recipe(
    args: argparse.Namespace,
    recipe: str,
    device: Device,
    work: Path,
    audio: bool,
    reference: dict[int, list[Frame]],
) -> dict[str, Any]:
    """Load the engine with ``recipe``, time its tasks, compare its frames to ``reference``
    (filled in here when ``recipe`` is the reference)."""
    from opendance.engines.registry import create_engine

    device.reset_peak()
    start = time.perf_counter()
    engine = TimedEngine(create_engine(make_settings(args, recipe)))
    device.sync()
    load_seconds = time.perf_counter() - start
    after_load = device.memory()
    described = engine.engine.recipe.describe()
    print(f"\n{recipe}: {engine.engine.recipe.summary()}")
    print(f"  load (create_engine): {load_seconds:.1f} s; memory after load: {gib(after_load)}")
    first_task: dict[str, Any] | None = None
    if not args.no_warmup:
        first = spec_for(args, args.durations[0], audio)
        first_task = run_task(engine, device, first, work / f"{recipe}-warmup.mp4")
        first_task["duration"] = first.duration
        print(f"  first task ({first.duration} s, one-off costs): {first_task['total']:.1f} s")
    rows: list[dict[str, Any]] = []
    for seconds in args.durations:
        spec = spec_for(args, seconds, audio)
        width, height, frames = generated_frames(engine.engine, spec)
        device.reset_peak()
        samples = []
        for repeat in range(args.repeats):
            engine.keep_frames = repeat == 0
            out = work / f"{recipe}-{seconds}s-{repeat}.mp4"
            samples.append(run_task(engine, device, spec, out))
            print(f"  {seconds} s, task {repeat + 1}/{args.repeats}: {samples[-1]['total']:.1f} s")
            if repeat == 0:
                kept = engine.kept
                reference.setdefault(seconds, kept)
        quality = (
            {"psnr_db": None, "ssim": None}  # the reference itself
            if recipe == REFERENCE
            else {"psnr_db": finite(psnr(reference[seconds], kept)),
                  "ssim": ssim(reference[seconds], kept)}
        )  # fmt: skip
        total = statistics.median(s["total"] for s in samples)
        rows.append(
            {
                "recipe": recipe,
                "duration": seconds,
                "api_duration": seconds in presets.DURATIONS,
                "output": f"{spec.width}x{spec.height}, {spec.frame_count} frames",
                "generated": f"{width}x{height}, {frames} frames",
                "seconds_per_video": total,
                "generate_seconds": statistics.median(s["generate"] for s in samples),
                "tail_seconds": statistics.median(s["tail"] for s in samples),
                "seconds_per_video_second": total / seconds,
                "memory": device.memory(),
                "compared_frames": len(kept),
                **quality,
                "samples": samples,
            }
        )
    result = {
        "recipe": described,
        "runtime": asdict(engine.engine.runtime),
        "load_seconds": load_seconds,
        "memory_after_load": after_load,
        "first_task": first_task,
        "results": rows,
    }
    del engine
    device.release()
    return result


def finite(value: float) -> float | None:
    """JSON has no infinity: identical frames (infinite PSNR) are written as null."""
    return None if value == float("inf") else value


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="opendance-gpu-bench-") as tmp:
        work = Path(tmp)
        if args.tiny:
            build_tiny(args, work / "models")
        audio = not args.no_audio and (args.engine == "ltx2" or args.audio_model is not None)
        device = Device(args.device)
        print(
            f"{args.engine} from {args.model if not args.tiny else 'tiny random weights'}: "
            f"{args.device}, {args.dtype}, audio={audio}, seed {SEED}, "
            f"recipes {', '.join(args.recipes)}"
        )
        reference: dict[int, list[Frame]] = {}
        recipes = {
            name: run_recipe(args, name, device, work, audio, reference) for name in args.recipes
        }
    baseline = {row["duration"]: row for row in recipes[REFERENCE]["results"]}
    for data in recipes.values():
        for row in data["results"]:
            reference_seconds = baseline[row["duration"]]["seconds_per_video"]
            row["speedup_vs_quality"] = reference_seconds / row["seconds_per_video"]
    print_table([row for data in recipes.values() for row in data["results"]])
    result = {
        "engine": args.engine,
        "model": str(args.model) if not args.tiny else "tiny random weights",
        "audio_model": str(args.audio_model) if args.audio_model and not args.tiny else None,
        "tiny": args.tiny,
        "aspect_ratio": args.aspect_ratio,
        "resolution": args.resolution,
        "seed": SEED,
        "audio": audio,
        "environment": device.describe(),
        "recipes": recipes,
    }
    out = args.json or Path(f"gpu_video_bench-{args.engine}-{args.resolution}.json")
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def gib(memory: dict[str, float]) -> str:
    return ", ".join(f"{key.removesuffix('_gib')} {value:.1f} GiB" for key, value in memory.items())


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(
        "recipe    video  generated             s/video  x quality  generate  tail   "
        "PSNR dB  SSIM    peak memory"
    )
    for row in rows:
        memory = gib({k: v for k, v in row["memory"].items() if k.startswith("peak")})
        marker = "" if row["api_duration"] else "*"
        reference = row["recipe"] == REFERENCE
        psnr_text = "ref" if reference else _number(row["psnr_db"], "inf")
        ssim_text = "ref" if reference else f"{row['ssim']:.4f}"
        print(
            f"{row['recipe']:9} {row['duration']:>3} s{marker:1} {row['generated']:21} "
            f"{row['seconds_per_video']:7.1f}  {row['speedup_vs_quality']:8.2f}x  "
            f"{row['generate_seconds']:8.1f}  {row['tail_seconds']:5.1f}  "
            f"{psnr_text:>7}  {ssim_text:6}  {memory}"
        )
    if any(not row["api_duration"] for row in rows):
        print("* not an API duration (the API offers 4, 8 and 12 s)")


def _number(value: float | None, none: str) -> str:
    return none if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
