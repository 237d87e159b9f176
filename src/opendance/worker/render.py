"""One render, run in a thread: engine frames -> MP4 file (checked) + its stills.

The MP4 has the size the task is delivered at (``spec.delivered_size``): when that is not the
preset's geometry the engine generates, the encoder scales the frames on the way. An engine's
finished MP4 (the upstream engine's) is published as it is when it has that size, and decoded
and encoded again at that size when it has not. Every video gets its stills (poster, sprite
sheet, last frame) from the frames passing to the encoder, or from one decoding pass over a
video published as it is.
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


def render_to_file(
    engine: Engine, spec: GenerationSpec, out_path: Path, control: RunControl
) -> RenderedVideo:
    try:
        check_size(*spec.delivered_size)  # before the engine spends anything on it
    except EncodeError as exc:
        raise EngineError(str(exc)) from None
    engine_done = 0.0
    encode_done = 0.0

    def on_engine_progress(fraction: float) -> None:
        nonlocal engine_done
        engine_done = fraction
        control.report(ENGINE_SHARE * engine_done + (1 - ENGINE_SHARE) * encode_done)

    def on_frame(encoded: int) -> None:
        nonlocal encode_done
        encode_done = encoded / spec.frame_count
        control.report(ENGINE_SHARE * engine_done + (1 - ENGINE_SHARE) * encode_done)

    result = engine.generate(spec, on_engine_progress)
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
            on_frame=on_frame,
        )
        stills = tap.stills
    # Nothing leaves the worker that breaks the contract's geometry, whatever the engine did.
    _check(out_path, spec, spec.delivered_size)
    control.report(1.0)
    return RenderedVideo(out_path, stills())


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
