"""A generated video, as the pipeline returned it, turned into the contract's result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opendance.engines.base import AudioTrack, GenerationResult
from opendance.engines.diffusers.timing import conform_frames

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec


def contract_result(
    video: npt.NDArray[Any], *, source_fps: float, spec: GenerationSpec, audio: AudioTrack | None
) -> GenerationResult:
    """``video`` (frames, H, W, 3) at ``source_fps`` as exactly the spec's frames, lazily."""
    return GenerationResult(
        frames=conform_frames(
            video,
            source_fps=source_fps,
            width=spec.width,
            height=spec.height,
            count=spec.frame_count,
            fps=spec.fps,
        ),
        frame_count=spec.frame_count,
        audio=audio,
    )
