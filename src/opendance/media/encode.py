"""Frames (+ optional audio) → a web-ready MP4: H.264 yuv420p, AAC, ``+faststart``.

Every engine's output goes through :func:`encode_mp4`, so this is where the output geometry of the
API contract is enforced: exactly ``frame_count`` frames of exactly ``width x height``, 24 fps with
exact timestamps, and an audio track cut or padded to the video's length. A wrong frame count or
shape is an engine bug and raises :class:`EncodeError` instead of producing a subtly wrong video.
A video delivered at another size than the engine's frames (an OpenAI ``size`` such as 1280x720)
is scaled in the same swscale pass that converts the colours, on the encoder thread: no extra
copy of the frame, and next to no extra time.

The file is written next to ``out_path`` under a hidden temporary name and renamed into place, so a
reader (the worker uploading it, a browser) never sees a half-written MP4.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Final

import av
import numpy as np
from av.audio.stream import AudioStream
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from opendance.media.scale import SCALER

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.audio import AudioTrack


@dataclass(frozen=True)
class EncodeSettings:
    """Codec settings. One frozen value so the benchmark baseline encodes with the very same ones.

    The defaults favour speed on a small CPU box (the preview engine's home): ``veryfast`` trades
    some compression for a lot of speed, CRF 23 is x264's own visually-fine default, a 2 s GOP
    keeps seeking snappy. The thread count is fixed, not derived from the machine, because x264's
    output depends on it: with a fixed count the same frames give the same bytes on any machine
    with the same FFmpeg/x264 build. Two threads suit the 2-core boxes the preview targets.
    """

    video_codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    preset: str = "veryfast"
    crf: int = 23
    gop_seconds: int = 2
    threads: int = 2
    audio_codec: str = "aac"
    audio_sample_rate: int = 48_000
    audio_layout: str = "stereo"
    audio_bit_rate: int = 128_000

    def video_options(self) -> dict[str, str]:
        """Private options of the video encoder (libx264 names)."""
        return {"preset": self.preset, "crf": str(self.crf)}


PREVIEW_ENCODE_SETTINGS: Final = EncodeSettings()

MUXER_OPTIONS: Final = {"movflags": "+faststart"}
"""``moov`` before ``mdat`` so browsers start playing before the whole file has arrived."""

# BT.709 (value 1 in both FFmpeg's AVCOL_* and swscale's SWS_CS_* enums) in limited range: the
# matrix every browser assumes for HD video. Converting with it *and* tagging the stream with it
# keeps colours right in players and makes a decoded frame round-trip to the source RGB.
_BT709: Final = 1
_LIMITED_RANGE: Final = 1


class EncodeError(ValueError):
    """The frames or audio handed to the encoder do not describe the promised video."""


def encode_mp4(
    frames: Iterable[npt.NDArray[np.uint8]],
    *,
    width: int,
    height: int,
    fps: int,
    frame_count: int,
    audio: AudioTrack | None,
    out_path: Path,
    output_size: tuple[int, int] | None = None,
    on_frame: Callable[[int], None] | None = None,
    settings: EncodeSettings = PREVIEW_ENCODE_SETTINGS,
) -> None:
    """Encode ``frame_count`` RGB uint8 frames of shape (height, width, 3) to ``out_path``.

    The video is ``width x height``, or ``output_size`` (width, height) when given: every frame
    is then scaled to it (see :mod:`opendance.media.scale`). H.264 in 4:2:0 needs even sides.

    ``frames`` is consumed once, lazily (a generator is fine), on the calling thread; colour
    conversion, encoding and muxing run on a helper thread meanwhile, so an engine that renders
    frame by frame overlaps with the encoder. A frame must not be changed after it was yielded.
    ``on_frame(n)`` is called on the calling thread once the n-th frame (1-based) was accepted.

    Audio, if given, is resampled to the settings' rate and layout and cut or padded with silence
    to exactly the video's duration (engines are expected to deliver that length already).

    Raises :class:`EncodeError` for a wrong number or shape of frames, and re-raises whatever the
    frame iterator raises; in every failure ``out_path`` is left as it was.
    """
    if frame_count <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise EncodeError(f"invalid geometry {width}x{height}, {frame_count} frames at {fps} fps")
    size = output_size or (width, height)
    check_size(*size)
    pcm = _fit_audio(audio, frame_count / fps, settings) if audio is not None else None
    tmp = out_path.with_name(f".{out_path.name}.{secrets.token_hex(6)}.part")
    try:
        _write(tmp, frames, (width, height), size, fps, frame_count, pcm, on_frame, settings)
        _fsync(tmp)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_size(width: int, height: int) -> None:
    """Raise :class:`EncodeError` unless an H.264 4:2:0 video can be ``width x height``: the
    chroma planes have half the luma's sides, so both must be even (and positive)."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise EncodeError(
            f"a video cannot be {width}x{height}: H.264 (yuv420p) needs an even width and height"
        )


def _write(
    path: Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    frame_size: tuple[int, int],
    video_size: tuple[int, int],
    fps: int,
    frame_count: int,
    pcm: npt.NDArray[np.float32] | None,
    on_frame: Callable[[int], None] | None,
    settings: EncodeSettings,
) -> None:
    with av.open(str(path), mode="w", format="mp4", options=MUXER_OPTIONS) as container:
        video = container.add_stream(
            settings.video_codec, rate=fps, options=settings.video_options()
        )
        assert isinstance(video, VideoStream)
        _configure_video(video, *video_size, fps, settings)
        sound = _AudioFeeder(container, pcm, fps, settings) if pcm is not None else None
        encoder = _EncoderThread(container, video, sound, settings)
        try:
            count = 0
            for frame in frames:
                if count == frame_count:
                    raise EncodeError(f"engine yielded more than the {frame_count} frames promised")
                _check_frame(frame, *frame_size, count)
                encoder.submit(frame)
                count += 1
                if on_frame is not None:
                    on_frame(count)
            if count != frame_count:
                raise EncodeError(f"engine yielded {count} frames, {frame_count} were promised")
        except BaseException:
            encoder.abort()
            raise
        encoder.finish()


class _EncoderThread:
    """Converts, encodes and muxes on a helper thread while the caller's thread renders.

    The engine's generator keeps running on the caller's thread (so its thread-local state and
    progress callbacks stay where the engine expects them); colour conversion, x264, AAC and the
    muxer release the GIL, so rendering the next frame overlaps encoding this one. The queue is
    short: a few frames of look-ahead is all the overlap needs, and memory stays flat.
    """

    _DEPTH: Final = 4
    _POLL_SECONDS: Final = 0.1

    def __init__(
        self,
        container: av.container.OutputContainer,
        video: VideoStream,
        sound: _AudioFeeder | None,
        settings: EncodeSettings,
    ) -> None:
        self._container, self._video, self._sound = container, video, sound
        self._settings = settings
        self._queue: queue.Queue[npt.NDArray[np.uint8] | None] = queue.Queue(self._DEPTH)
        self._aborted = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="encode_mp4", daemon=True)
        self._thread.start()

    def submit(self, frame: npt.NDArray[np.uint8]) -> None:
        self._put(frame)

    def finish(self) -> None:
        """Flush both encoders and wait; re-raise whatever went wrong on the helper thread."""
        self._put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._aborted.set()
        self._thread.join()

    def _put(self, item: npt.NDArray[np.uint8] | None) -> None:
        while True:
            if self._error is not None or not self._thread.is_alive():
                self._thread.join()
                raise self._error or RuntimeError("encoder thread stopped")
            try:
                self._queue.put(item, timeout=self._POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        video, ctx = self._video, self._video.codec_context
        convert = _FrameConverter(ctx.width, ctx.height, self._settings)
        try:
            index = 0
            while not self._aborted.is_set():
                try:
                    rgb = self._queue.get(timeout=self._POLL_SECONDS)
                except queue.Empty:
                    continue
                if rgb is None:
                    break
                self._container.mux(video.encode(convert(rgb, index)))
                index += 1
                if self._sound is not None:
                    self._sound.feed_until_video_frame(index)
            else:
                return  # aborted: the caller raises its own error
            self._container.mux(video.encode(None))
            if self._sound is not None:
                self._sound.flush()
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self._error = exc


def _configure_video(
    stream: VideoStream, width: int, height: int, fps: int, settings: EncodeSettings
) -> None:
    ctx = stream.codec_context
    ctx.width, ctx.height, ctx.pix_fmt = width, height, settings.pix_fmt
    ctx.time_base = Fraction(1, fps)  # pts are frame numbers: exact, no rounding drift
    ctx.gop_size = settings.gop_seconds * fps
    ctx.thread_count = settings.threads
    ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
    ctx.color_range = _LIMITED_RANGE


def _check_frame(rgb: object, width: int, height: int, index: int) -> None:
    """Raise :class:`EncodeError` unless ``rgb`` is a uint8 array of shape (height, width, 3)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise EncodeError(f"frame {index} is {got}, expected uint8 ({height}, {width}, 3)")


class _FrameConverter:
    """RGB arrays → encoder frames (BT.709, limited range), scaled to the video's size.

    A fresh swscale context per frame costs about a millisecond, which the encoder thread
    absorbs; a reused one carried state from frame to frame and from encode to encode, so the
    same frames came out as different YUV now and then.
    """

    def __init__(self, width: int, height: int, settings: EncodeSettings) -> None:
        self._width, self._height, self._settings = width, height, settings

    def __call__(self, rgb: npt.NDArray[np.uint8], index: int) -> av.VideoFrame:
        """The frame with pts = ``index``; swscale writes a new YUV frame from a copy of ``rgb``."""
        # from_ndarray copies (about 1 MB, well under a millisecond); wrapping the engine's
        # array in place with from_numpy_buffer made repeated encodes of the same frames differ.
        source = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        scaled = rgb.shape[:2] != (self._height, self._width)
        frame = VideoReformatter().reformat(
            source,
            width=self._width,
            height=self._height,
            format=self._settings.pix_fmt,
            dst_colorspace=_BT709,
            dst_color_range=_LIMITED_RANGE,
            # swscale's filter also shapes the chroma subsampling: unscaled frames keep its
            # default, so their bytes stay what they were before sizes could differ
            interpolation=SCALER if scaled else None,
            threads=self._settings.threads,
        )
        frame.pts = index
        return frame


def _fit_audio(
    track: AudioTrack, seconds: float, settings: EncodeSettings
) -> npt.NDArray[np.float32]:
    """The track as planar float32 at the output rate and layout, exactly ``seconds`` long."""
    samples = np.asarray(track.samples, dtype=np.float32)
    if samples.ndim != 2 or samples.shape[0] not in (1, 2) or track.sample_rate <= 0:
        raise EncodeError(f"audio must be (1 or 2 channels, samples), got {samples.shape}")
    if not np.isfinite(samples).all():
        raise EncodeError("audio contains NaN or infinite samples")
    channels = 2 if settings.audio_layout == "stereo" else 1
    if track.sample_rate != settings.audio_sample_rate:
        samples = _resample(samples, track.sample_rate, settings)
    if samples.shape[0] != channels:
        samples = (
            np.repeat(samples, channels, axis=0)
            if channels == 2
            else samples.mean(0, keepdims=True)
        )
    target = round(seconds * settings.audio_sample_rate)
    fitted = np.zeros((channels, target), dtype=np.float32)
    n = min(target, samples.shape[1])
    np.clip(samples[:, :n], -1.0, 1.0, out=fitted[:, :n])
    return fitted


def _resample(
    samples: npt.NDArray[np.float32], rate: int, settings: EncodeSettings
) -> npt.NDArray[np.float32]:
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=settings.audio_sample_rate)
    parts = [f.to_ndarray() for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


class _AudioFeeder:
    """Feeds the audio in step with the video so the muxer can interleave the two tracks."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        pcm: npt.NDArray[np.float32],
        fps: int,
        settings: EncodeSettings,
    ) -> None:
        stream = container.add_stream(settings.audio_codec, rate=settings.audio_sample_rate)
        assert isinstance(stream, AudioStream)
        stream.codec_context.layout = settings.audio_layout
        stream.codec_context.format = "fltp"
        stream.codec_context.bit_rate = settings.audio_bit_rate
        stream.codec_context.time_base = Fraction(1, settings.audio_sample_rate)
        self._container, self._stream, self._pcm = container, stream, pcm
        self._layout, self._rate, self._fps = settings.audio_layout, settings.audio_sample_rate, fps
        self._sent = 0

    def feed_until_video_frame(self, frames_done: int) -> None:
        """Encode the audio up to the end of video frame ``frames_done``."""
        self._feed_to(min(self._pcm.shape[1], frames_done * self._rate // self._fps))

    def flush(self) -> None:
        self._feed_to(self._pcm.shape[1])
        self._container.mux(self._stream.encode(None))

    def _feed_to(self, end: int) -> None:
        if end <= self._sent:
            return
        chunk = np.ascontiguousarray(self._pcm[:, self._sent : end])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._layout)
        frame.sample_rate, frame.pts = self._rate, self._sent
        frame.time_base = Fraction(1, self._rate)
        self._sent = end
        self._container.mux(self._stream.encode(frame))


def _fsync(path: Path) -> None:
    """Make the bytes durable before the rename publishes them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
