"""encode_mp4 and posters, checked on the real MP4 bytes (PyAV decodes what was written)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from opendance.engines.base import AudioTrack
from opendance.media.encode import EncodeError, encode_mp4
from opendance.media.poster import PosterTap, poster_from_mp4, poster_index, poster_jpeg
from opendance.media.probe import check_output, probe_mp4

W, H, FPS, N = 320, 192, 24, 96  # 4 s: small and quick, still several GOPs


def moving_frames(n: int = N, width: int = W, height: int = H) -> Iterator[npt.NDArray[np.uint8]]:
    """Smooth, moving, colourful frames: codec-friendly, so decoded pixels stay close."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(n):
        r = 128 + 100 * np.sin((xx + 3 * i) / 40)
        g = 128 + 100 * np.cos((yy - 2 * i) / 30)
        b = 128 + 80 * np.sin((xx + yy + i) / 55)
        yield np.dstack([r, g, b]).astype(np.uint8)


def tone(seconds: float, rate: int = 48_000, channels: int = 2) -> AudioTrack:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    return AudioTrack(np.tile(wave, (channels, 1)).astype(np.float32), rate)


def encode(out: Path, frames: object = None, **overrides: object) -> None:
    kwargs: dict[str, object] = {
        "width": W,
        "height": H,
        "fps": FPS,
        "frame_count": N,
        "audio": None,
        "out_path": out,
    }
    kwargs.update(overrides)
    encode_mp4(moving_frames() if frames is None else frames, **kwargs)  # type: ignore[arg-type]


def decode_rgb(path: Path) -> list[npt.NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        frames = container.decode(video=0)
        return [np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in frames]


def test_round_trip_without_audio_matches_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out)
    probe = probe_mp4(out)
    assert (probe.width, probe.height, probe.frame_count) == (W, H, N)
    assert probe.fps == 24
    assert (probe.video_codec, probe.pix_fmt) == ("h264", "yuv420p")
    assert probe.duration == pytest.approx(4.0)
    assert probe.faststart
    assert not probe.has_audio
    assert check_output(probe, width=W, height=H, fps=FPS, frame_count=N, audio=False) == []


def test_round_trip_with_audio_has_aac_of_the_same_length(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out, audio=tone(4.0))
    probe = probe_mp4(out)
    assert probe.has_audio
    assert (probe.audio_codec, probe.audio_sample_rate, probe.audio_channels) == ("aac", 48_000, 2)
    assert probe.audio_duration is not None
    assert abs(probe.audio_duration - probe.duration) < 1024 / 48_000
    assert probe.frame_count == N
    assert probe.faststart
    assert check_output(probe, width=W, height=H, fps=FPS, frame_count=N, audio=True) == []


def test_audio_of_another_rate_and_length_is_fitted_to_the_video(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out, audio=tone(3.1, rate=22_050, channels=1))
    probe = probe_mp4(out)
    assert probe.audio_sample_rate == 48_000
    assert probe.audio_channels == 2
    assert probe.audio_duration == pytest.approx(4.0, abs=1024 / 48_000)


def test_timestamps_are_exact_frame_numbers(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out)
    with av.open(str(out)) as container:
        times = [(f.pts or 0) * (f.time_base or 0) for f in container.decode(video=0)]
    assert times == [Fraction(i, FPS) for i in range(N)]


def test_decoded_frames_match_the_source_colours(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out)
    for source, decoded in zip(moving_frames(), decode_rgb(out), strict=True):
        assert np.abs(source.astype(int) - decoded).mean() < 3


@pytest.mark.parametrize("count", [N - 1, N + 1])
def test_wrong_frame_count_raises_and_writes_nothing(tmp_path: Path, count: int) -> None:
    out = tmp_path / "v.mp4"
    with pytest.raises(EncodeError, match="frames"):
        encode(out, frames=moving_frames(count))
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_raises(tmp_path: Path) -> None:
    frames = [np.zeros((H, W, 3), np.uint8), np.zeros((H, W + 32, 3), np.uint8)]
    with pytest.raises(EncodeError, match="frame 1"):
        encode(tmp_path / "v.mp4", frames=iter(frames), frame_count=2)


def test_failure_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    out.write_bytes(b"previous")

    def failing() -> Iterator[npt.NDArray[np.uint8]]:
        yield from moving_frames(10)
        raise RuntimeError("engine crashed")

    with pytest.raises(RuntimeError, match="engine crashed"):
        encode(out, frames=failing())
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_same_input_gives_identical_bytes(tmp_path: Path) -> None:
    digests = set()
    for name in ("a.mp4", "b.mp4"):
        encode(tmp_path / name, audio=tone(4.0))
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1


def test_on_frame_counts_every_frame(tmp_path: Path) -> None:
    seen: list[int] = []
    encode(tmp_path / "v.mp4", on_frame=seen.append)
    assert seen == list(range(1, N + 1))


def test_poster_tap_keeps_the_frame_at_one_third(tmp_path: Path) -> None:
    tap = PosterTap(N)
    encode(tmp_path / "v.mp4", frames=tap.wrap(moving_frames()))
    expected = list(moving_frames())[poster_index(N)]
    assert poster_index(N) == 32
    assert tap.frame is not None
    assert np.array_equal(tap.frame, expected)
    jpeg = tap.jpeg()
    assert np.abs(jpeg_rgb(jpeg).astype(int) - expected).mean() < 4
    assert jpeg == poster_jpeg(expected)  # deterministic


def jpeg_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def test_poster_from_mp4_decodes_the_same_frame(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out)
    source = list(moving_frames())
    decoded = jpeg_rgb(poster_from_mp4(out))
    assert decoded.shape == (H, W, 3)
    errors = [np.abs(decoded.astype(int) - source[i]).mean() for i in range(N)]
    assert int(np.argmin(errors)) == poster_index(N)  # that frame, not a neighbour


def test_poster_can_be_scaled_down() -> None:
    assert jpeg_rgb(poster_jpeg(next(moving_frames()), max_side=160)).shape == (96, 160, 3)


def test_poster_tap_refuses_before_the_frame_passed() -> None:
    with pytest.raises(RuntimeError, match="not been encoded"):
        PosterTap(N).jpeg()
