"""Frame-count and geometry policy: from what a model can generate to the contract's video.

Pure functions (numpy and Pillow only), so the policy is tested without a model.

* Frames. A video model generates ``multiple * k + 1`` frames (its VAE compresses time by
  ``multiple`` and keeps the first frame on its own): LTX-2 8k+1, Wan 4k+1. We ask for the
  smallest such count that covers the requested duration at the model's frame rate, then map
  the generated frames onto exactly ``24 x duration`` output frames at 24 fps by timestamp:
  output frame ``i`` shows the generated frame on screen at ``i / 24`` s (nearest, never a
  blend, so no ghosting). At 24 fps (LTX-2) that is a trim of the surplus frame; at Wan's
  native 16 fps every second generated frame is shown twice (a 2:3-free, even cadence).
* Geometry. The contract's frame sizes are multiples of 32, so models whose latent grid is 32
  or finer generate at exactly that size. A model with a coarser grid generates at the nearest
  multiple of its grid on each side and is resized (Lanczos) to the contract size exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import numpy.typing as npt


def frames_to_generate(seconds: float, fps: float, multiple: int) -> int:
    """The smallest ``multiple * k + 1`` frame count that lasts at least ``seconds`` at ``fps``.

    A video of ``n`` frames at ``fps`` lasts ``n / fps`` s (each frame is on screen 1/fps).
    """
    needed = math.ceil(seconds * fps - 1e-9)
    k = max(0, math.ceil((needed - 1) / multiple))
    return multiple * k + 1


def output_frame_sources(generated: int, source_fps: float, count: int, fps: float) -> list[int]:
    """For each of ``count`` output frames at ``fps``, the index of the generated frame (at
    ``source_fps``) on screen at that time. Raises ``ValueError`` if the generated frames do not
    last long enough (an engine bug, never silently padded)."""
    if generated * fps < count * source_fps - 1e-6:
        raise ValueError(
            f"{generated} frames at {source_fps:g} fps are shorter than {count} at {fps:g} fps"
        )
    # floor(i * source/fps) with a tiny epsilon so exact multiples do not fall one frame back
    return [min(generated - 1, math.floor(i * source_fps / fps + 1e-9)) for i in range(count)]


def generation_size(width: int, height: int, grid: int) -> tuple[int, int]:
    """The size to generate at for a model whose width and height must be multiples of
    ``grid``: the contract size itself when it is on the grid, else the nearest grid size."""
    if width % grid == 0 and height % grid == 0:
        return width, height
    return (max(grid, round(width / grid) * grid), max(grid, round(height / grid) * grid))


def to_uint8(frame: npt.NDArray[np.floating] | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """An RGB frame in [0, 1] floats (what diffusers returns for ``output_type='np'``) as uint8."""
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    scaled = np.clip(np.asarray(frame, dtype=np.float32) * 255.0 + 0.5, 0, 255)
    return np.ascontiguousarray(scaled.astype(np.uint8))


def resize_exact(frame: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    image = Image.fromarray(frame, mode="RGB").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def conform_frames(
    video: npt.NDArray[np.floating] | npt.NDArray[np.uint8],
    *,
    source_fps: float,
    width: int,
    height: int,
    count: int,
    fps: float,
) -> Iterator[npt.NDArray[np.uint8]]:
    """The generated ``video`` (frames, height, width, 3) as exactly ``count`` RGB uint8 frames
    of ``width x height`` at ``fps``, converted lazily one frame at a time."""
    sources = output_frame_sources(len(video), source_fps, count, fps)
    last_index, last_frame = -1, None
    for index in sources:
        if index != last_index:  # a frame shown twice (16 -> 24 fps) is converted once
            last_index, last_frame = index, resize_exact(to_uint8(video[index]), width, height)
        assert last_frame is not None
        yield last_frame
