"""The stills of every video: its poster, its sprite sheet and its last frame.

They are made from the frames as they pass through the encoder, never by decoding the video
again: wrap the frames in a :class:`StillsTap`, hand its iterator to ``encode_mp4``, then ask it
for the :class:`Stills`. Only the frames a still shows are copied or scaled on the way (27 of
a 12 s video's 288), so memory stays flat. A video that was not encoded here (an upstream
engine's MP4, published as it is) gets them from :func:`stills_from_mp4`: one decoding pass,
converting only those frames to RGB.

The stills are of the video as delivered: when the encoder scales the frames to an output size,
the poster and the last frame are scaled to it too, and the sprite's tiles take its shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import av

from opendance.media.decode import frame_rgb
from opendance.media.last_frame import LastFrameTap
from opendance.media.poster import PosterTap
from opendance.media.sprite import SpriteTap

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class Stills:
    poster: bytes
    """JPEG: the frame at one third (``media.poster``)."""
    sprite: bytes
    """JPEG: a grid of evenly spaced small frames (``media.sprite``)."""
    last_frame: bytes
    """PNG: the last frame at the video's full size (``media.last_frame``)."""


class FrameTap(Protocol):
    def wants(self, index: int) -> bool:
        """Whether frame ``index`` (0-based) is one this tap keeps."""
        ...

    def take(self, index: int, frame: npt.NDArray[np.uint8]) -> None:
        """Look at frame ``index`` as it passes; keep what is needed (the frame is not ours:
        copy, never hold on to it)."""
        ...


class StillsTap:
    """Passes frames through unchanged, keeping what the stills need on the way.

    ``size`` is the (width, height) the video is delivered at, which the frames passing may not
    have (the encoder scales them)."""

    def __init__(self, frame_count: int, size: tuple[int, int]) -> None:
        self.frame_count = frame_count
        self.poster = PosterTap(frame_count, size)
        self.sprite = SpriteTap(frame_count, size)
        self.last_frame = LastFrameTap(frame_count, size)
        self._taps: tuple[FrameTap, ...] = (self.poster, self.sprite, self.last_frame)
        self._stills: Stills | None = None

    def wants(self, index: int) -> bool:
        return any(tap.wants(index) for tap in self._taps)

    def take(self, index: int, frame: npt.NDArray[np.uint8]) -> None:
        for tap in self._taps:
            if tap.wants(index):
                tap.take(index, frame)

    def wrap(self, frames: Iterable[npt.NDArray[np.uint8]]) -> Iterator[npt.NDArray[np.uint8]]:
        for index, frame in enumerate(frames):
            self.take(index, frame)
            yield frame
        if self.last_frame.frame is not None:
            # The encoder asked for a frame past the last one: the last is in its queue. The
            # images are made now, on this thread, while the encoder's thread encodes what is
            # left in its queue and flushes, rather than after it (a frame short is left to
            # the encoder to report).
            self.stills()

    def stills(self) -> Stills:
        """The images; raises ``RuntimeError`` if a frame one of them shows has not passed."""
        if self._stills is None:
            self._stills = Stills(self.poster.jpeg(), self.sprite.jpeg(), self.last_frame.png())
        return self._stills


def stills_from_mp4(path: Path, frame_count: int) -> Stills:
    """The stills of the MP4 at ``path``, whose video track has ``frame_count`` frames (the
    caller checked that), at its own size. Decodes every frame once; converts only those the
    stills show."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size = (stream.codec_context.width, stream.codec_context.height)
        tap = StillsTap(frame_count, size)
        for index, frame in enumerate(container.decode(stream)):
            if tap.wants(index):
                tap.take(index, frame_rgb(frame))
    return tap.stills()
