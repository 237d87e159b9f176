"""Hand-made MP4s for the upstream engine's tests: one exactly as the contract wants, and ones
of the geometry other services deliver, with a time code burnt into every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from opendance.engines.base import AudioTrack
from opendance.media.encode import encode_mp4

CODE_BITS = 8
GREEN = (40, 200, 60)
RED = (220, 30, 30)
BLUE = (30, 30, 220)


def timecoded_frame(index: int, width: int, height: int) -> np.ndarray:
    """Grey, with red and blue bands at the far left and right (outside a centred square
    crop), a green strip just inside the crop's left edge, and ``index`` as 8 black/white
    blocks across the middle."""
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    side = (width - height) // 2  # a centred square crop keeps x in [side, width - side)
    frame[:, : side - 30] = RED
    frame[:, width - side + 30 :] = BLUE
    frame[:, side : side + 40] = GREEN
    block = height // (CODE_BITS + 2)
    for bit in range(CODE_BITS):
        value = 255 if index >> bit & 1 else 0
        x = side + 60 + bit * block
        frame[height // 2 - block // 2 : height // 2 + block // 2, x : x + block - 8] = value
    return frame


def read_timecode(frame: np.ndarray) -> int:
    """The index burnt in by ``timecoded_frame``, read back from a square crop of it."""
    height, width = frame.shape[:2]
    scale = width / height  # square output: the source's height maps onto it
    assert scale == 1
    source_height = 720
    factor = height / source_height
    block = source_height // (CODE_BITS + 2)
    value = 0
    for bit in range(CODE_BITS):
        x = int((60 + bit * block + (block - 8) / 2) * factor)
        if frame[height // 2, x].mean() > 128:
            value |= 1 << bit
    return value


def tone(seconds: float, rate: int, channels: int = 1) -> AudioTrack:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return AudioTrack(np.tile(wave, (channels, 1)), rate)


def make_mp4(
    path: Path,
    *,
    width: int,
    height: int,
    fps: int,
    seconds: float,
    audio: bool,
    timecoded: bool = False,
) -> Path:
    count = round(fps * seconds)
    frames = (
        timecoded_frame(i, width, height)
        if timecoded
        else np.full((height, width, 3), (i * 2) % 256, dtype=np.uint8)
        for i in range(count)
    )
    encode_mp4(
        frames,
        width=width,
        height=height,
        fps=fps,
        frame_count=count,
        audio=tone(seconds, 44_100) if audio else None,
        out_path=path,
    )
    return path
