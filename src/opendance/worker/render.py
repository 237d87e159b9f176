"""One render, run in a thread: engine frames -> MP4 file + poster JPEG."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opendance.engines.base import Engine
from opendance.media.encode import encode_mp4
from opendance.media.poster import poster_jpeg
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
    poster: bytes | None


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
    poster_index = spec.frame_count // 3
    captured: list[npt.NDArray[np.uint8]] = []
    encode_mp4(
        _capture(result.frames, poster_index, captured),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=result.audio,
        out_path=out_path,
        on_frame=on_frame,
    )
    return RenderedVideo(out_path, poster_jpeg(captured[0]) if captured else None)


def _capture(
    frames: Iterable[npt.NDArray[np.uint8]], index: int, into: list[npt.NDArray[np.uint8]]
) -> Iterator[npt.NDArray[np.uint8]]:
    """Pass frames through, keeping a copy of one for the poster (no second decode needed)."""
    for i, frame in enumerate(frames):
        if i == index:
            into.append(frame.copy())
        yield frame
