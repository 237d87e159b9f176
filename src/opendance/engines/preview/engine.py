"""``PreviewEngine``: the entry point; scenes and soundtrack do the drawing and the music."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from opendance.engines.base import (
    EngineCapabilities,
    EngineError,
    GenerationResult,
    ProgressCallback,
)
from opendance.engines.preview.scenes import ImageScene, Scene, TextScene
from opendance.engines.preview.soundtrack import soundtrack

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

    Frame: TypeAlias = npt.NDArray[np.uint8]


class PreviewEngine:
    """Renders a deterministic, prompt-dependent preview video on the CPU (see the package doc)."""

    name = "preview"
    capabilities = EngineCapabilities(audio=True, image_to_video=True)

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        """Prepare the scene and soundtrack now; frames are rendered as the caller iterates.

        ``on_progress`` gets 0.0 before the first frame and ``(i + 1) / frame_count`` after
        frame ``i``, on the thread that iterates the frames.
        """
        first = spec.first_frame
        if first is not None and (
            first.dtype != np.uint8 or first.shape != (spec.height, spec.width, 3)
        ):
            raise EngineError(
                f"first frame is {first.dtype} {first.shape}, "
                f"expected uint8 ({spec.height}, {spec.width}, 3)"
            )
        scene: Scene = ImageScene(spec, first) if first is not None else TextScene(spec)
        audio = soundtrack(spec) if spec.generate_audio else None
        return GenerationResult(
            frames=_render_all(scene, spec.frame_count, on_progress),
            frame_count=spec.frame_count,
            audio=audio,
        )


def _render_all(scene: Scene, count: int, on_progress: ProgressCallback) -> Iterator[Frame]:
    on_progress(0.0)
    for index in range(count):
        frame = scene.render(index)
        on_progress((index + 1) / count)
        yield frame
