"""Reading an MP4 made elsewhere back into RGB frames and PCM audio: for an upstream engine's
video that must be re-encoded (another size or rate than the task's), and for the stills of a
video that was not encoded here."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Final

import av
import numpy as np

from opendance.domain.audio import AudioTrack

if TYPE_CHECKING:
    import numpy.typing as npt

AUDIO_RATE: Final = 48_000


def frame_rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """A decoded frame as RGB. Its own colour tags decide the YUV->RGB matrix; an untagged
    range means limited."""
    range_tag = frame.color_range or None
    return np.asarray(frame.to_ndarray(format="rgb24", src_color_range=range_tag), np.uint8)


def decoded_frames(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """Every frame of the first video track, in presentation order, as RGB; one at a time."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame_rgb(frame)


def frame_time(
    frame: av.VideoFrame | av.AudioFrame, time_base: Fraction | None, n: int
) -> Fraction:
    """Presentation time of the ``n``-th frame of a stream (a video frame without timestamps is
    taken to be at the contract's 24 fps)."""
    if frame.pts is None or time_base is None:
        return Fraction(n, 24)
    return frame.pts * Fraction(time_base)


def first_video_time(path: Path) -> Fraction | None:
    """Presentation time of the first frame: the zero of both tracks (edit lists and B-frame
    delays can make it non-zero); None if the video has no frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return frame_time(frame, stream.time_base, 0)
    return None


def decode_audio(path: Path, video_start: Fraction) -> AudioTrack:
    """The first audio track as 48 kHz stereo float32, shifted so 0 is the first video frame."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    chunks: list[npt.NDArray[np.float32]] = []
    first: Fraction | None = None
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if first is None:
                first = frame_time(frame, stream.time_base, 0)
            chunks.extend(_pcm(out) for out in resampler.resample(frame))
        chunks.extend(_pcm(out) for out in resampler.resample(None))
    samples = (
        np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
        if chunks
        else np.zeros((2, 0), dtype=np.float32)
    )
    offset = round((first - video_start) * AUDIO_RATE) if first is not None else 0
    if offset > 0:  # the audio starts after the picture: silence until then
        samples = np.concatenate([np.zeros((2, offset), dtype=np.float32), samples], axis=1)
    elif offset < 0:  # it starts before: drop what precedes the first frame
        samples = samples[:, -offset:]
    return AudioTrack(np.ascontiguousarray(samples), AUDIO_RATE)


def _pcm(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    return np.asarray(frame.to_ndarray(), dtype=np.float32)
