"""Poster images: one JPEG still per video, for thumbnails and ``<video poster=...>``.

The poster is the frame at one third of the video (past any fade-in, before any fade-out). The
worker gets it for free while encoding: wrap the engine's frames in a :class:`PosterTap`, hand the
tap's iterator to ``encode_mp4``, then ask the tap for the JPEG. The frame is copied once as it
passes; nothing is decoded. :func:`poster_from_mp4` exists for videos that were not encoded here
(re-generating a lost poster): it seeks to the keyframe before the poster frame and decodes at
most one GOP, not the whole file.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import av
import numpy as np
from PIL import Image

from opendance.media.frame_tap import OneFrameTap
from opendance.media.scale import scale_rgb

if TYPE_CHECKING:
    import numpy.typing as npt

JPEG_QUALITY: Final = 85


def poster_index(frame_count: int) -> int:
    """Index of the poster frame, one third into a video of ``frame_count`` frames."""
    return min(frame_count // 3, max(frame_count - 1, 0))


def poster_jpeg(
    frame: npt.NDArray[np.uint8], *, max_side: int | None = None, quality: int = JPEG_QUALITY
) -> bytes:
    """Encode an RGB frame as JPEG, optionally scaled down so its longer side is ``max_side``.

    Deterministic (no EXIF, no timestamps): the same frame always gives the same bytes.
    """
    image = Image.fromarray(frame, mode="RGB")
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


class PosterTap(OneFrameTap):
    """Passes frames through unchanged and keeps a copy of the poster frame on the way.

    ``tap = PosterTap(result.frame_count)``; ``encode_mp4(tap.wrap(result.frames), ...)``;
    ``tap.jpeg()``. With ``size`` (width, height), the poster is scaled to it: the size the
    video is delivered at when the encoder scales the frames.
    """

    def __init__(self, frame_count: int, size: tuple[int, int] | None = None) -> None:
        super().__init__(poster_index(frame_count), size)

    def wrap(self, frames: Iterable[npt.NDArray[np.uint8]]) -> Iterator[npt.NDArray[np.uint8]]:
        for i, frame in enumerate(frames):
            self.take(i, frame)
            yield frame

    def jpeg(self, *, max_side: int | None = None, quality: int = JPEG_QUALITY) -> bytes:
        """The poster as JPEG; raises ``RuntimeError`` if the poster frame has not passed yet."""
        if self.frame is None:
            raise RuntimeError(f"poster frame {self.index} has not been encoded yet")
        frame = self.frame if self.size is None else scale_rgb(self.frame, *self.size)
        return poster_jpeg(frame, max_side=max_side, quality=quality)


def poster_from_mp4(
    path: Path | str, *, max_side: int | None = None, quality: int = JPEG_QUALITY
) -> bytes:
    """The poster of an existing MP4, decoding from the nearest keyframe only."""
    with av.open(str(path), mode="r") as container:
        if not container.streams.video:
            raise ValueError(f"{Path(path).name} has no video track")
        stream = container.streams.video[0]
        count = stream.frames or _count_packets(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        if count <= 0 or rate is None or stream.time_base is None:
            raise ValueError(f"{Path(path).name} has no video frames")
        target = round(poster_index(count) / rate / stream.time_base)  # pts of the poster frame
        container.seek(target, stream=stream, backward=True, any_frame=False)
        last: av.VideoFrame | None = None
        for frame in container.decode(stream):  # presentation order, from the keyframe on
            if last is not None and (frame.pts or 0) > target:
                break  # no frame has exactly that time: keep the one shown at it
            last = frame
            if (frame.pts or 0) >= target:
                break
        if last is None:
            raise ValueError(f"{Path(path).name}: could not decode the poster frame")
        rgb = np.asarray(last.to_ndarray(format="rgb24"), dtype=np.uint8)
        return poster_jpeg(rgb, max_side=max_side, quality=quality)


def first_frame_png(mp4: bytes) -> bytes:
    """The first frame of an MP4 as a PNG (lossless: it is a video's starting image again, and
    a second lossy encoding would show). Raises ``ValueError`` if there is no frame to decode."""
    with av.open(io.BytesIO(mp4), mode="r") as container:
        if not container.streams.video:
            raise ValueError("the video has no video track")
        for frame in container.decode(container.streams.video[0]):
            rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            out = io.BytesIO()
            Image.fromarray(rgb, mode="RGB").save(out, format="PNG")
            return out.getvalue()
    raise ValueError("the video has no frames")


def _count_packets(container: av.container.InputContainer, stream: av.video.VideoStream) -> int:
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count
