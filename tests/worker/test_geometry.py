"""Every cell of the contract's geometry table, as a real MP4 from the worker's render path."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendance.domain.spec import GenerationSpec
from opendance.engines.preview import PreviewEngine
from opendance.media.probe import check_output, probe_mp4
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file
from tests.support.media import image_size

# The contract's table, written out again on purpose: the test must not read the code's table.
CONTRACT_SIZES = {
    ("16:9", "480p"): (864, 480), ("16:9", "720p"): (1248, 704),
    ("4:3", "480p"): (736, 544), ("4:3", "720p"): (1120, 832),
    ("1:1", "480p"): (640, 640), ("1:1", "720p"): (960, 960),
    ("3:4", "480p"): (544, 736), ("3:4", "720p"): (832, 1120),
    ("9:16", "480p"): (480, 864), ("9:16", "720p"): (704, 1248),
    ("21:9", "480p"): (960, 416), ("21:9", "720p"): (1504, 640),
    ("9:21", "480p"): (416, 960), ("9:21", "720p"): (640, 1504),
}  # fmt: skip


@pytest.mark.parametrize(("aspect_ratio", "resolution"), sorted(CONTRACT_SIZES))
def test_every_geometry_cell_renders_to_the_contract_size(
    tmp_path: Path, aspect_ratio: str, resolution: str
) -> None:
    spec = GenerationSpec(
        prompt=f"geometry {aspect_ratio} {resolution}",
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration=4,
        generate_audio=aspect_ratio == "21:9",
        fixed_lens=False,
        seed=7,
    )
    control = RunControl()
    rendered = render_to_file(PreviewEngine(), spec, tmp_path / "out.mp4", control)
    width, height = CONTRACT_SIZES[(aspect_ratio, resolution)]
    assert width % 32 == 0 and height % 32 == 0
    probe = probe_mp4(rendered.video_path)
    assert (
        check_output(
            probe, width=width, height=height, fps=24, frame_count=96, audio=spec.generate_audio
        )
        == []
    )
    stills = rendered.stills
    assert image_size(stills.poster, "JPEG") == (width, height)
    assert image_size(stills.last_frame, "PNG") == (width, height)
    tile_height = round(160 * height / width)  # 25 tiles of 160 px wide, in rows of 5
    assert image_size(stills.sprite, "JPEG") == (800, 5 * tile_height)
    assert control.progress == 99


@pytest.mark.parametrize("duration", [8, 12])
def test_longer_durations_have_exactly_24_frames_a_second(tmp_path: Path, duration: int) -> None:
    spec = GenerationSpec(
        prompt="duration check",
        aspect_ratio="1:1",
        resolution="480p",
        duration=duration,
        generate_audio=True,
        fixed_lens=True,
        seed=1,
    )
    rendered = render_to_file(PreviewEngine(), spec, tmp_path / "d.mp4", RunControl())
    probe = probe_mp4(rendered.video_path)
    assert (
        check_output(probe, width=640, height=640, fps=24, frame_count=24 * duration, audio=True)
        == []
    )
