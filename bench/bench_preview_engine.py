"""Preview engine end to end vs. plain PyAV encoding of the same frames, measured in one run.

    python bench/bench_preview_engine.py [--reps 3] [--seconds 8] [--resolution 720p] ...

(a) engine:   ``PreviewEngine.generate`` (scene set-up, soundtrack, lazy frames) → ``encode_mp4``.
(b) baseline: the same frames, rendered into a list *before* the clock starts, encoded by a plain
              PyAV loop with the same codec settings (``PREVIEW_ENCODE_SETTINGS``) and the same
              audio. This is the floor: what the video costs if rendering were free.
(c) info:     ``encode_mp4`` over the pre-rendered list: the encoder wrapper's own overhead.

The wall-time ratio a/b is what the engine adds on top of encoding; the target is at most 1.5.
Each figure is the median of ``--reps`` runs; CPU seconds (all threads) are printed as well, as
they stay meaningful when other work shares the machine. Exit status 1 when the ratio misses the
target, so CI can use it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import AudioTrack
from opendance.engines.preview import PreviewEngine
from opendance.media.encode import MUXER_OPTIONS, PREVIEW_ENCODE_SETTINGS, encode_mp4
from opendance.media.probe import check_output, probe_mp4

TARGET_RATIO = 1.5
PROMPT = "A red fox trots through a snowy birch forest at dawn, soft light, slow camera"


def engine_run(spec: GenerationSpec, out: Path) -> None:
    """(a): everything the worker does for a preview task, minus storage."""
    result = PreviewEngine().generate(spec, lambda _fraction: None)
    encode_mp4(
        result.frames,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=result.frame_count,
        audio=result.audio,
        out_path=out,
    )


def baseline_run(
    frames: list[npt.NDArray[np.uint8]], audio: AudioTrack, spec: GenerationSpec, out: Path
) -> None:
    """(b): a straightforward PyAV encode of ready-made frames and audio, same settings."""
    s = PREVIEW_ENCODE_SETTINGS
    with av.open(str(out), mode="w", format="mp4", options=MUXER_OPTIONS) as container:
        video = container.add_stream(s.video_codec, rate=spec.fps, options=s.video_options())
        assert isinstance(video, av.video.stream.VideoStream)
        ctx = video.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = spec.width, spec.height, s.pix_fmt
        ctx.time_base = Fraction(1, spec.fps)
        ctx.gop_size, ctx.thread_count = s.gop_seconds * spec.fps, s.threads
        sound = container.add_stream(s.audio_codec, rate=s.audio_sample_rate)
        assert isinstance(sound, av.audio.stream.AudioStream)
        sound.codec_context.layout, sound.codec_context.bit_rate = s.audio_layout, s.audio_bit_rate
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_numpy_buffer(rgb, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        pcm = av.AudioFrame.from_ndarray(audio.samples, format="fltp", layout=s.audio_layout)
        pcm.sample_rate, pcm.pts, pcm.time_base = audio.sample_rate, 0, Fraction(1, 48_000)
        container.mux(sound.encode(pcm))
        container.mux(sound.encode(None))


def medians(runs: dict[str, Callable[[], None]], reps: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds (all threads) of each run. The runs take turns, so drift in
    the machine's load hits them alike; CPU time shows the work itself when the box is busy."""
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8, choices=(4, 8, 12))
    parser.add_argument("--resolution", default="720p", choices=("480p", "720p"))
    parser.add_argument("--aspect-ratio", default="16:9")
    parser.add_argument("--fixed-lens", action="store_true")
    args = parser.parse_args()
    spec = GenerationSpec(
        prompt=PROMPT,
        aspect_ratio=args.aspect_ratio,
        resolution=args.resolution,
        duration=args.seconds,
        generate_audio=True,
        fixed_lens=args.fixed_lens,
        seed=42,
    )
    print(
        f"{spec.width}x{spec.height}, {spec.frame_count} frames at {spec.fps} fps, audio, "
        f"fixed_lens={spec.fixed_lens}; x264 preset={PREVIEW_ENCODE_SETTINGS.preset} "
        f"crf={PREVIEW_ENCODE_SETTINGS.crf} threads={PREVIEW_ENCODE_SETTINGS.threads}; "
        f"median of {args.reps}"
    )
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        out = Path(tmp) / "out.mp4"
        prepared = PreviewEngine().generate(spec, lambda _fraction: None)
        frames, audio = list(prepared.frames), prepared.audio
        assert audio is not None

        engine_run(spec, out)  # warm-up, and check the output is what the API promises
        problems = check_output(
            probe_mp4(out),
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            frame_count=spec.frame_count,
            audio=True,
        )
        if problems:
            print("engine output is wrong:", "; ".join(problems))
            return 2

        times = medians(
            {
                "baseline": lambda: baseline_run(frames, audio, spec, out),
                "engine": lambda: engine_run(spec, out),
                "wrapper": lambda: encode_mp4(
                    frames,
                    width=spec.width,
                    height=spec.height,
                    fps=spec.fps,
                    frame_count=spec.frame_count,
                    audio=audio,
                    out_path=out,
                ),
            },
            args.reps,
        )
    labels = {
        "baseline": "(b) baseline, PyAV encode of pre-rendered frames",
        "wrapper": "(c) encode_mp4 of pre-rendered frames",
        "engine": "(a) preview engine end to end",
    }
    for name, label in labels.items():
        print(f"{label:50} {times[name][0]:5.2f} s wall, {times[name][1]:5.2f} s cpu")
    (baseline, baseline_cpu), (engine, engine_cpu) = times["baseline"], times["engine"]
    ratio = engine / baseline
    verdict = "ok" if ratio <= TARGET_RATIO else "TOO SLOW"
    print(f"ratio a/b = {ratio:.2f} wall (target <= {TARGET_RATIO}): {verdict}")
    print(f"ratio a/b = {engine_cpu / baseline_cpu:.2f} cpu (for information)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
