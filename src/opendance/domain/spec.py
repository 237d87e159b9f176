"""What an engine is asked to make: the validated request plus everything derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opendance.domain import presets

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class VideoParameters:
    """What decides a video: the parameters a task request and an engine's spec share."""

    prompt: str
    aspect_ratio: str
    resolution: str
    duration: int
    generate_audio: bool
    fixed_lens: bool
    seed: int

    def video_parameters(self) -> dict[str, object]:
        """These fields alone, as keyword arguments (of a spec made from a request)."""
        return {name: getattr(self, name) for name in VideoParameters.__dataclass_fields__}


@dataclass(frozen=True)
class GenerationSpec(VideoParameters):
    """One video to generate. ``first_frame`` is the input image, already scaled to cover the
    frame and centre-cropped to exactly ``height x width`` (RGB, uint8), or None for text-to-video.

    The engine makes frames of ``width x height`` (the preset's geometry); ``output_size``, when
    set, is the (width, height) the worker scales them to for the MP4 (``delivered_size``).
    """

    first_frame: npt.NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)
    output_size: tuple[int, int] | None = None

    @property
    def width(self) -> int:
        return presets.frame_size(self.aspect_ratio, self.resolution)[0]

    @property
    def height(self) -> int:
        return presets.frame_size(self.aspect_ratio, self.resolution)[1]

    @property
    def delivered_size(self) -> tuple[int, int]:
        """The (width, height) of the MP4: ``output_size``, else the engine's frame size."""
        return self.output_size or (self.width, self.height)

    @property
    def fps(self) -> int:
        return presets.FPS

    @property
    def frame_count(self) -> int:
        return presets.frame_count(self.duration)
