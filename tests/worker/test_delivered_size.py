"""Videos delivered at an exact output size, through the worker's render path: the engine's
frames scaled while encoding, an engine's finished MP4 published as it is or encoded again, and
the stills of what is delivered."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EncodedVideo, EngineError, GenerationResult, ProgressCallback
from opendance.engines.preview import PreviewEngine
from opendance.media.encode import encode_mp4
from opendance.media.probe import check_output, probe_mp4
from opendance.worker.control import RunControl
from opendance.worker.render import render_to_file
from tests.media.test_stills import image_rgb
from tests.support.media import decoded_frames, image_size, psnr

SPEC = GenerationSpec(
    prompt="a tram crossing a bridge at night",
    aspect_ratio="16:9",
    resolution="480p",
    duration=4,
    generate_audio=True,
    fixed_lens=False,
    seed=11,
)


class Finished:
    """An engine that hands over a finished MP4 (as the upstream engine does), made here from
    the preview engine's frames at the spec's geometry, or ``frame_count`` frames of it."""

    name = "finished"
    capabilities = PreviewEngine.capabilities

    def __init__(self, directory: Path, frame_count: int | None = None) -> None:
        self.path = directory / "upstream.mp4"
        self.frame_count = frame_count
        self.calls = 0

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> EncodedVideo:
        self.calls += 1
        made = PreviewEngine().generate(replace(spec, output_size=None), on_progress)
        assert isinstance(made, GenerationResult)
        count = self.frame_count or spec.frame_count
        frames = (frame for _, frame in zip(range(count), made.frames, strict=False))
        encode_mp4(
            frames,
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            frame_count=count,
            audio=made.audio,
            out_path=self.path,
        )
        return EncodedVideo(self.path)


def _checked(path: Path, size: tuple[int, int]) -> None:
    probe = probe_mp4(path)
    problems = check_output(
        probe, width=size[0], height=size[1], fps=24, frame_count=96, audio=True
    )
    assert problems == []


def test_frames_are_scaled_to_the_output_size_with_their_stills(tmp_path: Path) -> None:
    spec = replace(SPEC, output_size=(640, 360))
    rendered = render_to_file(PreviewEngine(), spec, tmp_path / "v.mp4", RunControl())
    _checked(rendered.video_path, (640, 360))
    stills = rendered.stills
    assert image_size(stills.poster, "JPEG") == (640, 360)
    assert image_size(stills.sprite, "JPEG") == (800, 450)
    last = image_rgb(stills.last_frame, "PNG")
    assert last.shape == (360, 640, 3)
    assert psnr(last, decoded_frames(rendered.video_path)[-1]) > 35


def test_an_odd_output_size_fails_before_the_engine_runs(tmp_path: Path) -> None:
    engine = Finished(tmp_path)
    with pytest.raises(EngineError, match="needs an even width and height"):
        render_to_file(
            engine, replace(SPEC, output_size=(641, 360)), tmp_path / "v.mp4", RunControl()
        )
    assert engine.calls == 0


def test_a_finished_mp4_of_the_delivered_size_is_published_as_it_is(tmp_path: Path) -> None:
    engine = Finished(tmp_path)
    kept = tmp_path / "kept.mp4"

    class Copying(Finished):
        def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> EncodedVideo:
            video = engine.generate(spec, on_progress)
            shutil.copy(video.path, kept)
            return video

    rendered = render_to_file(Copying(tmp_path), SPEC, tmp_path / "v.mp4", RunControl())
    assert rendered.video_path.read_bytes() == kept.read_bytes()
    frames = decoded_frames(rendered.video_path)
    last = image_rgb(rendered.stills.last_frame, "PNG")
    assert last.shape == (480, 864, 3) and psnr(last, frames[-1]) > 50
    assert image_size(rendered.stills.sprite, "JPEG") == (800, 5 * 89)


def test_a_finished_mp4_of_another_size_is_encoded_again_at_the_output_size(
    tmp_path: Path,
) -> None:
    engine = Finished(tmp_path)
    spec = replace(SPEC, output_size=(1280, 720))
    rendered = render_to_file(engine, spec, tmp_path / "v.mp4", RunControl())
    _checked(rendered.video_path, (1280, 720))  # the audio came along, as long as the video
    assert not engine.path.exists()  # the engine's file was read and deleted
    last = image_rgb(rendered.stills.last_frame, "PNG")
    assert last.shape == (720, 1280, 3)
    assert psnr(last, decoded_frames(rendered.video_path)[-1]) > 35


def test_a_finished_mp4_that_breaks_the_contract_is_not_encoded_again(tmp_path: Path) -> None:
    engine = Finished(tmp_path, frame_count=90)
    spec = replace(SPEC, output_size=(1280, 720))
    with pytest.raises(EngineError, match="90 frames, expected 96"):
        render_to_file(engine, spec, tmp_path / "v.mp4", RunControl())
    assert not engine.path.exists() and not (tmp_path / "v.mp4").exists()
