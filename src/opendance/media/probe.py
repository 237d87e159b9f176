"""What an MP4 really contains, measured from the file itself.

The worker checks every engine's output against the task before publishing it (a video that is
one frame short or lacks its promised audio track is a failure, not a success), and the tests use
the same measurements. Everything is read from packet timestamps in one demux pass, without
decoding: frames are counted, and a track's duration runs from presentation time 0 to the end of
its last packet. Packets before time 0 are encoder delay (AAC priming) that players skip.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream


class ProbeError(ValueError):
    """The file is not a readable MP4 with a video track."""


@dataclass(frozen=True)
class ProbeResult:
    width: int
    height: int
    fps: Fraction
    frame_count: int
    video_codec: str
    pix_fmt: str
    duration: float
    """Seconds of video: from the first frame's start to the last frame's end."""
    has_audio: bool
    audio_codec: str | None
    audio_duration: float | None
    """Seconds of audio a player plays, i.e. without the encoder delay."""
    audio_sample_rate: int | None
    audio_channels: int | None
    faststart: bool
    """``moov`` precedes ``mdat``: playback can start before the download ends."""
    size_bytes: int


def probe_mp4(path: Path | str) -> ProbeResult:
    """Measure the MP4 at ``path``; raise :class:`ProbeError` if it cannot be read.

    The error message names the file but not its directory (messages may reach clients); the
    underlying error is chained for the logs.
    """
    path = Path(path)
    try:
        boxes = top_level_boxes(path)
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise ProbeError(f"{path.name} has no video track")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            video_track, audio_track = _scan(container, video, audio)
            ctx = video.codec_context
            return ProbeResult(
                width=ctx.width,
                height=ctx.height,
                fps=Fraction(video.average_rate or video.guessed_rate or 0),
                frame_count=video_track.packets,
                video_codec=ctx.name,
                pix_fmt=ctx.pix_fmt or "",
                duration=video_track.seconds(video),
                has_audio=audio is not None,
                audio_codec=audio.codec_context.name if audio else None,
                audio_duration=audio_track.seconds(audio) if audio else None,
                audio_sample_rate=audio.codec_context.sample_rate if audio else None,
                audio_channels=audio.codec_context.channels if audio else None,
                faststart=_is_faststart(boxes),
                size_bytes=path.stat().st_size,
            )
    except (av.error.FFmpegError, OSError, struct.error) as exc:
        raise ProbeError(f"cannot read {path.name} ({type(exc).__name__})") from exc


def check_output(
    probe: ProbeResult, *, width: int, height: int, fps: int, frame_count: int, audio: bool
) -> list[str]:
    """Ways in which ``probe`` differs from what was asked for; empty when the video is right.

    Audio may differ from the video's length by less than one AAC frame (1024 samples), the
    granularity of the codec.
    """
    problems = []
    if (probe.width, probe.height) != (width, height):
        problems.append(f"size {probe.width}x{probe.height}, expected {width}x{height}")
    if probe.fps != fps:
        problems.append(f"{probe.fps} fps, expected {fps}")
    if probe.frame_count != frame_count:
        problems.append(f"{probe.frame_count} frames, expected {frame_count}")
    if (probe.video_codec, probe.pix_fmt) != ("h264", "yuv420p"):
        problems.append(f"video is {probe.video_codec}/{probe.pix_fmt}, expected h264/yuv420p")
    if not probe.faststart:
        problems.append("moov atom is not at the front (no faststart)")
    if audio and not probe.has_audio:
        problems.append("audio track missing")
    if not audio and probe.has_audio:
        problems.append("unexpected audio track")
    if audio and probe.has_audio:
        if probe.audio_codec != "aac":
            problems.append(f"audio is {probe.audio_codec}, expected aac")
        rate = probe.audio_sample_rate or 1
        if abs((probe.audio_duration or 0.0) - frame_count / fps) >= 1024 / rate:
            problems.append(f"audio lasts {probe.audio_duration} s, video {frame_count / fps} s")
    return problems


def top_level_boxes(path: Path) -> list[str]:
    """Types of the top-level ISO-BMFF boxes in file order, e.g. ``['ftyp', 'moov', 'mdat']``."""
    types = []
    size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            length, kind = struct.unpack(">I4s", f.read(8))
            if length == 1:  # 64-bit size follows the type
                (length,) = struct.unpack(">Q", f.read(8))
            elif length == 0:  # box runs to the end of the file
                length = size - offset
            if length < 8:
                raise ProbeError(f"corrupt box {kind!r} at offset {offset}")
            types.append(kind.decode("latin-1"))
            offset += length
    return types


def _is_faststart(boxes: list[str]) -> bool:
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")


class _Track:
    """Running packet count and presentation end of one stream during the demux pass."""

    def __init__(self) -> None:
        self.packets = 0
        self.end = 0

    def add(self, pts: int | None, duration: int | None, size: int) -> None:
        if size == 0 or pts is None:
            return  # the demuxer's end-of-stream marker
        self.packets += 1
        self.end = max(self.end, pts + (duration or 0))

    def seconds(self, stream: VideoStream | AudioStream) -> float:
        return float(self.end * stream.time_base) if stream.time_base is not None else 0.0


def _scan(
    container: av.container.InputContainer, video: VideoStream, audio: AudioStream | None
) -> tuple[_Track, _Track]:
    video_track, audio_track = _Track(), _Track()
    streams = [video] if audio is None else [video, audio]
    for packet in container.demux(streams):
        track = video_track if packet.stream is video else audio_track
        track.add(packet.pts, packet.duration, packet.size)
    if video_track.packets == 0:
        raise ProbeError("video track has no frames")
    return video_track, audio_track
