"""Keeping one frame of a video as it passes to the encoder (the poster, the last frame)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt


class OneFrameTap:
    """Keeps a copy of frame ``index`` as frames pass (only that one is copied); ``size`` is
    the (width, height) the video is delivered at, when the encoder scales the frames."""

    def __init__(self, index: int, size: tuple[int, int] | None) -> None:
        self.index = index
        self.size = size
        self.frame: npt.NDArray[np.uint8] | None = None

    def wants(self, index: int) -> bool:
        return index == self.index

    def take(self, index: int, frame: npt.NDArray[np.uint8]) -> None:
        if index == self.index:
            self.frame = np.array(frame, dtype=np.uint8, copy=True)  # engines may reuse buffers
