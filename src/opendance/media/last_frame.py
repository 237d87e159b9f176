"""The last frame of a video as a PNG of the video's full size: Ark's ``return_last_frame``
shows it, and clients chain it as the first frame of the next video.

PNG, not JPEG: a frame that becomes the input of another generation should not lose more than
the video's own encoding already took. zlib level 1 (:data:`PNG_COMPRESS_LEVEL`) rather than
Pillow's default 6: the frame is made for every task and fetched for few, and on a 720p preview
frame level 1 took 19 ms for 207 KB where level 6 took 46 ms for 136 KB.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

import numpy as np
from PIL import Image

from opendance.media.frame_tap import OneFrameTap
from opendance.media.scale import scale_rgb

if TYPE_CHECKING:
    import numpy.typing as npt

PNG_COMPRESS_LEVEL: Final = 1


def frame_png(frame: npt.NDArray[np.uint8]) -> bytes:
    """An RGB frame as PNG. Deterministic: the same frame always gives the same bytes."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame), mode="RGB").save(
        out, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return out.getvalue()


class LastFrameTap(OneFrameTap):
    """Keeps a copy of the last frame as it passes (only that one is copied); ``png()`` scales
    it to ``size`` (width, height), the size the video is delivered at, as the encoder does."""

    def __init__(self, frame_count: int, size: tuple[int, int]) -> None:
        super().__init__(frame_count - 1, size)
        self.delivered = size

    def png(self) -> bytes:
        """The last frame as PNG; raises ``RuntimeError`` if it has not passed yet."""
        if self.frame is None:
            raise RuntimeError(f"the last frame ({self.index}) has not been encoded yet")
        return frame_png(scale_rgb(self.frame, *self.delivered))
