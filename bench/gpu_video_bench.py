"""Seconds per video on a GPU with real weights: load time, time per task, peak GPU memory.

    python bench/gpu_video_bench.py --engine ltx2 --model /models/ltx-2 --device cuda --dtype bf16
    python bench/gpu_video_bench.py --engine wan --model /models/wan2.2-ti2v-5b \\
        --audio-model /models/stable-audio-open-1.0 --durations 4 8 12
    python bench/gpu_video_bench.py --engine ltx2 --tiny      # CPU, tiny random weights: a dry run

Each task is what a worker does with it, minus storage: ``render_to_file`` (``engine.generate``,
frames conformed to the contract, H.264/AAC encode, probe check, poster), in this process, on
one engine instance loaded once. Reported per duration (16:9 unless ``--aspect-ratio``, 720p
unless ``--resolution``): the median seconds per video over ``--repeats`` tasks and how they
split into generation (``engine.generate``: text encoding, denoising, VAE decode, audio) and the
worker's tail (conform, encode, check, poster); the peak GPU memory
(``torch.cuda.max_memory_allocated`` and ``max_memory_reserved`` after
``reset_peak_memory_stats``); and once the model load (``create_engine``) and the first task,
which pays one-off costs (kernel selection, ``torch.compile``) and is kept out of the medians.

Durations: the default is 5 and 8 s; the API offers 4, 8 and 12 s (``--durations 4 8 12``).
5 s is not an API duration, but the engine takes any whole number of seconds
(``GenerationSpec`` does not restrict it), and it is the clip length the models are usually
run at: LTX-2 generates 121 frames for it, Wan 81 (the default of diffusers' ``WanPipeline``).
Rows that are not API durations are starred.

The table goes to stdout, everything (settings, runtime, versions, GPU, every sample) to the
``--json`` file.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from opendance.domain import presets
from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EncodedVideo, EngineCapabilities, GenerationResult
from opendance.errors import OpendanceError
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file

PROMPT: Final = (
    "A red fox trots through a snowy birch forest at dawn; soft golden light, slow dolly shot, "
    "breath visible in the cold air, the crunch of snow underfoot"
)
GIB: Final = 1024**3


class TimedEngine:
    """Passes ``generate`` through to the engine and records how long it took."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name: str = engine.name
        self.capabilities: EngineCapabilities = engine.capabilities
        self.seconds = 0.0

    def generate(
        self, spec: GenerationSpec, on_progress: Callable[[float], None]
    ) -> GenerationResult | EncodedVideo:
        start = time.perf_counter()
        result: GenerationResult | EncodedVideo = self.engine.generate(spec, on_progress)
        self.seconds = time.perf_counter() - start  # outputs are numpy: the GPU is done here
        return result


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
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--engine", choices=("ltx2", "wan"), required=True)
    parser.add_argument("--model", type=Path, help="the engine's diffusers pipeline directory")
    parser.add_argument("--audio-model", type=Path, help="wan: a StableAudioPipeline directory")
    parser.add_argument("--image-model", type=Path, help="wan: a WanImageToVideoPipeline dir")
    parser.add_argument("--device", help="cuda (default), cuda:N, mps or cpu")
    parser.add_argument("--dtype", choices=("auto", "bf16", "fp16", "fp32"), help="default bf16")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the engine's own)")
    parser.add_argument("--guidance-scale", type=float)
    parser.add_argument("--repeats", type=int, help="timed tasks per duration (default 3)")
    parser.add_argument(
        "--durations", type=int, nargs="+", metavar="S", help="seconds (default 5 8)"
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
    parser.add_argument("--compile", action="store_true", help="torch.compile the transformer")
    parser.add_argument("--no-warmup", action="store_true", help="time the first task too")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="build tiny random-weight models and run on the CPU (defaults: fp32, 2 steps, "
        "480p, 4 s, 1 repeat); checks the script end to end without a GPU",
    )
    args = parser.parse_args(argv)
    if not args.tiny and args.model is None:
        parser.error("--model is required (or --tiny for a dry run with tiny models)")
    # What is not given: a GPU run's defaults, or a quick CPU dry run's with --tiny.
    defaults: dict[str, Any] = (
        {"device": "cpu", "dtype": "fp32", "steps": 2, "resolution": "480p", "durations": [4]}
        | {"repeats": 1}
        if args.tiny
        else {"device": "cuda", "dtype": "bf16", "resolution": "720p", "durations": [5, 8]}
        | {"repeats": 3}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeats < 1 or any(seconds < 1 for seconds in args.durations):
        parser.error("--repeats and --durations must be at least 1")
    return args


def build_tiny(args: argparse.Namespace, directory: Path) -> None:
    from opendance.engines.diffusers.tiny import make_tiny

    args.model = make_tiny(args.engine, directory / args.engine)
    if args.engine == "wan" and not args.no_audio and args.audio_model is None:
        args.audio_model = make_tiny("stable-audio", directory / "stable-audio")


def make_settings(args: argparse.Namespace) -> Any:
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
        compile_transformer=args.compile,
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


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="opendance-gpu-bench-") as tmp:
        work = Path(tmp)
        if args.tiny:
            build_tiny(args, work / "models")
        audio = not args.no_audio and (args.engine == "ltx2" or args.audio_model is not None)
        settings = make_settings(args)
        from opendance.engines.registry import create_engine

        device = Device(args.device)
        device.reset_peak()
        start = time.perf_counter()
        engine = TimedEngine(create_engine(settings))
        device.sync()
        load_seconds = time.perf_counter() - start
        after_load = device.memory()
        runtime = asdict(engine.engine.runtime)
        steps = engine.engine.steps
        print(
            f"{args.engine} from {args.model}: {runtime['device']}, {runtime['dtype_name']}, "
            f"{steps} steps, offload={runtime['cpu_offload']}, tiling={runtime['vae_tiling']}, "
            f"attention={runtime['attention_backend'] or 'default'}, "
            f"compile={runtime['compile_transformer']}, audio={audio}"
        )
        print(f"load (create_engine): {load_seconds:.1f} s; memory after load: {gib(after_load)}")

        def spec_for(seconds: int) -> GenerationSpec:
            return GenerationSpec(
                prompt=PROMPT,
                aspect_ratio=args.aspect_ratio,
                resolution=args.resolution,
                duration=seconds,
                generate_audio=audio,
                fixed_lens=False,
                seed=42,
            )

        first_task: dict[str, Any] | None = None
        if not args.no_warmup:
            first = spec_for(args.durations[0])
            first_task = run_task(engine, device, first, work / "warmup.mp4")
            first_task["duration"] = first.duration
            print(
                f"first task ({first.duration} s, one-off costs, not in the medians): "
                f"{first_task['total']:.1f} s"
            )
        rows: list[dict[str, Any]] = []
        for seconds in args.durations:
            spec = spec_for(seconds)
            width, height, frames = generated_frames(engine.engine, spec)
            device.reset_peak()
            samples = []
            for repeat in range(args.repeats):
                sample = run_task(engine, device, spec, work / f"{seconds}s-{repeat}.mp4")
                samples.append(sample)
                print(f"  {seconds} s, task {repeat + 1}/{args.repeats}: {sample['total']:.1f} s")
            total = statistics.median(s["total"] for s in samples)
            rows.append(
                {
                    "duration": seconds,
                    "api_duration": seconds in presets.DURATIONS,
                    "output": f"{spec.width}x{spec.height}, {spec.frame_count} frames",
                    "generated": f"{width}x{height}, {frames} frames",
                    "seconds_per_video": total,
                    "generate_seconds": statistics.median(s["generate"] for s in samples),
                    "tail_seconds": statistics.median(s["tail"] for s in samples),
                    "seconds_per_video_second": total / seconds,
                    "memory": device.memory(),
                    "samples": samples,
                }
            )
    print_table(rows)
    result = {
        "engine": args.engine,
        "model": str(args.model) if not args.tiny else "tiny random weights",
        "audio_model": str(args.audio_model) if args.audio_model and not args.tiny else None,
        "tiny": args.tiny,
        "aspect_ratio": args.aspect_ratio,
        "resolution": args.resolution,
        "steps": steps,
        "audio": audio,
        "runtime": runtime,
        "environment": device.describe(),
        "load_seconds": load_seconds,
        "memory_after_load": after_load,
        "first_task": first_task,
        "results": rows,
    }
    out = args.json or Path(f"gpu_video_bench-{args.engine}-{args.resolution}.json")
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def gib(memory: dict[str, float]) -> str:
    return ", ".join(f"{key.removesuffix('_gib')} {value:.1f} GiB" for key, value in memory.items())


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("video  generated             s/video  generate  tail   s per video s  memory")
    for row in rows:
        memory = gib({k: v for k, v in row["memory"].items() if k.startswith("peak")})
        marker = "" if row["api_duration"] else "*"
        print(
            f"{row['duration']:>3} s{marker:1} {row['generated']:21} "
            f"{row['seconds_per_video']:7.1f}  {row['generate_seconds']:8.1f}  "
            f"{row['tail_seconds']:5.1f}  {row['seconds_per_video_second']:13.1f}  {memory}"
        )
    if any(not row["api_duration"] for row in rows):
        print("* not an API duration (the API offers 4, 8 and 12 s)")


if __name__ == "__main__":
    sys.exit(main())
