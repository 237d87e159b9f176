"""Looking at real MP4 files and images in tests."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
from PIL import Image


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (99 for identical frames)."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255**2 / mse))


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError("no frames")


def image_size(data: bytes, image_format: str) -> tuple[int, int]:
    """(width, height) of an image, which must decode fully and be of ``image_format``."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == image_format
        image.load()
        return image.size


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (320, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
