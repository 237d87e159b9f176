"""One render, run in a thread: engine frames -> MP4 file (checked) + poster JPEG."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opendance.engines.base import EncodedVideo, Engine, EngineError
from opendance.media.encode import encode_mp4
from opendance.media.poster import PosterTap, poster_from_mp4
from opendance.media.probe import check_output, probe_mp4
from opendance.worker.control import RunControl

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec

# Engines that generate before yielding (diffusion) report most of the work themselves;
# encoding is the tail. The preview engine renders lazily, so both advance together.
ENGINE_SHARE = 0.85


@dataclass(frozen=True)
class RenderedVideo:
    video_path: Path
    poster: bytes


def render_to_file(
    engine: Engine, spec: GenerationSpec, out_path: Path, control: RunControl
) -> RenderedVideo:
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
    poster_jpeg: Callable[[], bytes]
    if isinstance(result, EncodedVideo):
        shutil.move(result.path, out_path)

        def poster_jpeg() -> bytes:  # decoded only once the file passed the check
            return poster_from_mp4(out_path)
    else:
        poster = PosterTap(spec.frame_count)
        encode_mp4(
            poster.wrap(result.frames),
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            frame_count=spec.frame_count,
            audio=result.audio,
            out_path=out_path,
            on_frame=on_frame,
        )
        poster_jpeg = poster.jpeg
    # Nothing leaves the worker that breaks the contract's geometry, whatever the engine did.
    problems = check_output(
        probe_mp4(out_path),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=spec.generate_audio,
    )
    if problems:
        out_path.unlink(missing_ok=True)
        raise EngineError("the video came out wrong (" + "; ".join(problems) + ")")
    control.report(1.0)
    return RenderedVideo(out_path, poster_jpeg())
