"""Looking at real MP4 files and images in tests."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import av
import numpy as np
from PIL import Image


def frame_hashes(path: Path) -> list[str]:
    """SHA-256 of every decoded frame (RGB), in order."""
    with av.open(str(path)) as container:
        return [
            hashlib.sha256(frame.to_ndarray(format="rgb24").tobytes()).hexdigest()
            for frame in container.decode(video=0)
        ]


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError("no frames")


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (320, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
