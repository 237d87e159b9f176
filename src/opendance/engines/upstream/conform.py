"""Making an upstream's MP4 match the contract's geometry, or passing it through untouched.

Another opendance server delivers exactly what the contract asks for: H.264 yuv420p at 24 fps,
``24 x duration`` frames of the preset size, AAC audio when asked for, ``+faststart``. Then the
file is published as it is (no generation loss, no CPU spent). Other Seedance-compatible
services may deliver 1280x720, 30 fps, a few frames more or less; then the video is decoded and
handed back as frames for the worker to encode:

- size: scaled to cover the frame and centre-cropped, as input images are;
- time: resampled to 24 fps by sample-and-hold on the source's timestamps (the source frame on
  screen at each output frame's start time), cut at the requested duration; a source up to one
  second short is padded by holding its last frame (and the audio with silence);
- audio: decoded and resampled to 48 kHz stereo, aligned to the first video frame.

A source more than a second short, or without the audio that was asked for, is a failure rather
than something to paper over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image

from opendance.engines.base import EncodedVideo, EngineError, GenerationResult
from opendance.media.decode import decode_audio, first_video_time, frame_rgb, frame_time
from opendance.media.images import cover_crop
from opendance.media.probe import ProbeError, ProbeResult, check_output, probe_mp4

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

log = logging.getLogger("opendance.engines.upstream")

MAX_SHORTFALL_SECONDS = 1.0


def conform_video(path: Path, spec: GenerationSpec) -> EncodedVideo | GenerationResult:
    """The video at ``path`` as the worker should publish it. ``path`` is consumed: it becomes
    the EncodedVideo, or the frame iterator deletes it when it is done (or dropped)."""
    try:
        probe = probe_mp4(path)
    except ProbeError as exc:
        log.warning("upstream video unreadable: %s", exc.__cause__ or exc)
        raise EngineError("the upstream service returned a video that cannot be read") from None
    problems = check_output(
        probe,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=spec.frame_count,
        audio=spec.generate_audio,
    )
    if not problems:
        return EncodedVideo(path)
    log.info("upstream video differs from the contract (%s); re-encoding", "; ".join(problems))
    _check_usable(probe, spec)
    start = _first_video_time(path)
    audio = decode_audio(path, start) if spec.generate_audio else None
    return GenerationResult(
        frames=_resampled_frames(path, spec, start),
        frame_count=spec.frame_count,
        audio=audio,
    )


def _check_usable(probe: ProbeResult, spec: GenerationSpec) -> None:
    if probe.duration < spec.duration - MAX_SHORTFALL_SECONDS:
        raise EngineError(
            f"the upstream service returned a {probe.duration:.1f} s video "
            f"for a {spec.duration} s request"
        )
    if spec.generate_audio and not probe.has_audio:
        raise EngineError("the upstream service returned a video without the requested audio")


def _first_video_time(path: Path) -> Fraction:
    start = first_video_time(path)
    if start is None:
        raise EngineError("the upstream service returned a video without frames")
    return start


def _resampled_frames(
    path: Path, spec: GenerationSpec, start: Fraction
) -> Iterator[npt.NDArray[np.uint8]]:
    """Exactly ``spec.frame_count`` frames of the spec's size; deletes ``path`` at the end."""
    try:
        emitted = 0
        held = _Held(spec.width, spec.height)  # the source frame on screen now
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for n, frame in enumerate(container.decode(stream)):
                shown_from = frame_time(frame, stream.time_base, n) - start
                # Every output frame that starts before this source frame shows the held one.
                while held.frame is not None and emitted < spec.frame_count:
                    if Fraction(emitted, spec.fps) >= shown_from:
                        break
                    yield held.rgb()
                    emitted += 1
                if emitted == spec.frame_count:
                    return
                held.replace(frame)
        if held.frame is None:
            raise EngineError("the upstream service returned a video without frames")
        while emitted < spec.frame_count:  # a slightly short source: hold the last frame
            yield held.rgb()
            emitted += 1
    finally:
        path.unlink(missing_ok=True)


class _Held:
    """The source frame on screen, converted only if an output frame shows it (a 30 fps
    source has a fifth of its frames skipped) and only once however often it is shown."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.frame: av.VideoFrame | None = None
        self._rgb: npt.NDArray[np.uint8] | None = None

    def replace(self, frame: av.VideoFrame) -> None:
        self.frame, self._rgb = frame, None

    def rgb(self) -> npt.NDArray[np.uint8]:
        assert self.frame is not None
        if self._rgb is None:
            self._rgb = _fit(self.frame, self.width, self.height)
        return self._rgb


def _fit(frame: av.VideoFrame, width: int, height: int) -> npt.NDArray[np.uint8]:
    return cover_crop(Image.fromarray(frame_rgb(frame), mode="RGB"), width, height)
