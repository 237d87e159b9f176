"""probe_mp4 and check_output on real files, including ones encode_mp4 would never write."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from opendance.media.encode import encode_mp4
from opendance.media.probe import ProbeError, check_output, probe_mp4, top_level_boxes


def write_plain_mp4(path: Path, frames: int = 24, movflags: str | None = None) -> None:
    """An MP4 written by PyAV directly, without the encoder's faststart default."""
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = 64, 64
        stream.codec_context.time_base = Fraction(1, 24)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((64, 64, 3), i * 8, np.uint8), format="rgb24"
            )
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_faststart_file_has_moov_before_mdat(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    frames = (np.zeros((64, 64, 3), np.uint8) for _ in range(24))
    encode_mp4(frames, width=64, height=64, fps=24, frame_count=24, audio=None, out_path=out)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")
    assert probe_mp4(out).faststart


def test_file_without_faststart_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "plain.mp4"
    write_plain_mp4(out)
    probe = probe_mp4(out)
    assert not probe.faststart
    assert (probe.frame_count, probe.width, probe.height) == (24, 64, 64)
    problems = check_output(probe, width=64, height=64, fps=24, frame_count=24, audio=False)
    assert problems == ["moov atom is not at the front (no faststart)"]


def test_check_output_names_every_mismatch(tmp_path: Path) -> None:
    out = tmp_path / "plain.mp4"
    write_plain_mp4(out, frames=20, movflags="+faststart")
    problems = check_output(probe_mp4(out), width=96, height=64, fps=24, frame_count=24, audio=True)
    assert problems == [
        "size 64x64, expected 96x64",
        "20 frames, expected 24",
        "audio track missing",
    ]


def test_probe_rejects_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x10notanmp4atall" * 4)
    with pytest.raises(ProbeError):
        probe_mp4(bogus)


def test_probe_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"missing\.mp4"):
        probe_mp4(tmp_path / "missing.mp4")
