"""One render, run in a thread: engine frames -> MP4 file (checked) + its stills.

The MP4 has the size the task is delivered at (``spec.delivered_size``): when that is not the
preset's geometry the engine generates, the encoder scales the frames on the way. An engine's
finished MP4 (the upstream engine's) is published as it is when it has that size, and decoded
and encoded again at that size when it has not. Every video gets its stills (poster, sprite
sheet, last frame) from the frames passing to the encoder, or from one decoding pass over a
video published as it is.

A render has two phases: ``generate`` (the engine on its device) and ``encode_tail`` (the CPU
work after it). An engine process runs them in two threads, so the device makes the next video
while the last one is encoded (``model_process``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from opendance.engines.base import EncodedVideo, Engine, EngineError, GenerationResult
from opendance.media.decode import decode_audio, decoded_frames, first_video_time
from opendance.media.encode import EncodeError, check_size, encode_mp4
from opendance.media.probe import check_output, probe_mp4
from opendance.media.stills import Stills, StillsTap, stills_from_mp4
from opendance.worker.control import RunControl

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

# Engines that generate before yielding (diffusion) report most of the work themselves;
# encoding is the tail. The preview engine renders lazily, so both advance together.
ENGINE_SHARE = 0.85


@dataclass(frozen=True)
class RenderedVideo:
    video_path: Path
    stills: Stills


class _Progress:
    """A render's progress: the engine's share, then the encoder's."""

    def __init__(self, spec: GenerationSpec, control: RunControl) -> None:
        self.spec = spec
        self.control = control
        self.engine_done = 0.0
        self.encode_done = 0.0

    def on_engine(self, fraction: float) -> None:
        self.engine_done = fraction
        self._report()

    def on_frame(self, encoded: int) -> None:
        self.encode_done = encoded / self.spec.frame_count
        self._report()

    def _report(self) -> None:
        self.control.report(ENGINE_SHARE * self.engine_done + (1 - ENGINE_SHARE) * self.encode_done)


@dataclass(frozen=True)
class Generated:
    """A render between its two phases: what the engine returned (for a diffusion engine,
    every frame in memory), waiting for the tail (conform, encode, stills, probe)."""

    spec: GenerationSpec
    result: GenerationResult | EncodedVideo
    progress: _Progress


def render_to_file(
    engine: Engine, spec: GenerationSpec, out_path: Path, control: RunControl
) -> RenderedVideo:
    return encode_tail(generate(engine, spec, control), out_path)


def generate(engine: Engine, spec: GenerationSpec, control: RunControl) -> Generated:
    """The device phase: the engine makes the video. A diffusion pipeline has made every frame
    when it returns; the preview engine's frames are lazy and made by the tail instead."""
    try:
        check_size(*spec.delivered_size)  # before the engine spends anything on it
    except EncodeError as exc:
        raise EngineError(str(exc)) from None
    progress = _Progress(spec, control)
    return Generated(spec, engine.generate(spec, progress.on_engine), progress)


def encode_tail(generated: Generated, out_path: Path) -> RenderedVideo:
    """The tail, on the CPU: encode to ``out_path`` (scaled to the delivered size), stills,
    check; progress and cancellation go on through the generation's control."""
    spec, result, progress = generated.spec, generated.result, generated.progress
    control = progress.control
    stills: Callable[[], Stills]
    if isinstance(result, EncodedVideo) and spec.delivered_size == (spec.width, spec.height):
        shutil.move(result.path, out_path)
        # decoded only once the file passed the check
        stills = partial(stills_from_mp4, out_path, spec.frame_count)
    else:
        frames = result if isinstance(result, GenerationResult) else _decoded(result, spec)
        tap = StillsTap(spec.frame_count, spec.delivered_size)
        encode_mp4(
            tap.wrap(frames.frames),
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            frame_count=spec.frame_count,
            audio=frames.audio,
            out_path=out_path,
            output_size=spec.delivered_size,
            on_frame=progress.on_frame,
        )
        stills = tap.stills
    # Nothing leaves the worker that breaks the contract's geometry, whatever the engine did.
    _check(out_path, spec, spec.delivered_size)
    control.report(1.0)
    return RenderedVideo(out_path, stills())


def discard(generated: Generated) -> None:
    """A render dropped between its phases: an engine's finished file is deleted."""
    if isinstance(generated.result, EncodedVideo):
        generated.result.path.unlink(missing_ok=True)


def _decoded(video: EncodedVideo, spec: GenerationSpec) -> GenerationResult:
    """An engine's finished MP4 (checked against the spec first) as frames and audio again,
    for the encoder to scale to the delivered size; the file is deleted once read."""
    try:
        _check(video.path, spec, (spec.width, spec.height))
        start = first_video_time(video.path) or Fraction(0)
        audio = decode_audio(video.path, start) if spec.generate_audio else None
    except BaseException:
        video.path.unlink(missing_ok=True)
        raise
    return GenerationResult(_read_once(video.path), spec.frame_count, audio)


def _read_once(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    try:
        yield from decoded_frames(path)
    finally:
        path.unlink(missing_ok=True)


def _check(path: Path, spec: GenerationSpec, size: tuple[int, int]) -> None:
    problems = check_output(
        probe_mp4(path),
        width=size[0],
        height=size[1],
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=spec.generate_audio,
    )
    if problems:
        path.unlink(missing_ok=True)
        raise EngineError("the video came out wrong (" + "; ".join(problems) + ")")
