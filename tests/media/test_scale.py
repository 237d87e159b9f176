"""Videos delivered at another size than the engine's frames: scaled while encoding, exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from opendance.media.encode import EncodeError
from opendance.media.probe import check_output, probe_mp4
from opendance.media.scale import scale_rgb
from tests.media.test_encode import FPS, H, N, W, decode_rgb, encode, moving_frames, tone
from tests.support.media import psnr


def test_frames_are_scaled_to_the_output_size_keeping_frames_and_audio(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out, output_size=(352, 200), audio=tone(4.0))
    probe = probe_mp4(out)
    assert check_output(probe, width=352, height=200, fps=FPS, frame_count=N, audio=True) == []
    decoded = decode_rgb(out)
    source = list(moving_frames())
    assert len(decoded) == N
    for index in (0, N // 2, N - 1):
        assert decoded[index].shape == (200, 352, 3)
        assert psnr(decoded[index], scale_rgb(source[index], 352, 200)) > 35


def test_a_smaller_output_size_scales_down(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    encode(out, output_size=(160, 96))
    probe = probe_mp4(out)
    assert (probe.width, probe.height, probe.frame_count) == (160, 96, N)


def test_an_output_size_equal_to_the_frames_changes_nothing(tmp_path: Path) -> None:
    encode(tmp_path / "plain.mp4")
    encode(tmp_path / "same.mp4", output_size=(W, H))
    digests = {
        hashlib.sha256((tmp_path / n).read_bytes()).digest() for n in ("plain.mp4", "same.mp4")
    }
    assert len(digests) == 1


@pytest.mark.parametrize("size", [(353, 200), (352, 201), (0, 200)])
def test_an_odd_output_size_is_refused_before_anything_is_written(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    out = tmp_path / "v.mp4"
    with pytest.raises(EncodeError, match="even width and height"):
        encode(out, output_size=size)
    assert list(tmp_path.iterdir()) == []


def test_scale_rgb_keeps_a_frame_of_the_size_and_scales_others() -> None:
    frame = next(moving_frames())
    assert scale_rgb(frame, W, H) is frame
    scaled = scale_rgb(frame, 2 * W, 2 * H)
    assert scaled.shape == (2 * H, 2 * W, 3) and scaled.dtype == np.uint8
    # a smooth picture scaled up and back down is nearly itself
    assert psnr(scale_rgb(scaled, W, H), frame) > 35
