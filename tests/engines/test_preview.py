"""The preview engine: determinism, the effect of every option, geometry, audio, progress."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from opendance.domain import presets
from opendance.domain.spec import GenerationSpec
from opendance.engines.base import Engine, EngineError, GenerationResult
from opendance.engines.preview import PreviewEngine
from opendance.media.encode import encode_mp4
from opendance.media.probe import check_output, probe_mp4

Frame = npt.NDArray[np.uint8]


def make_spec(**overrides: Any) -> GenerationSpec:
    fields: dict[str, Any] = {
        "prompt": "a lighthouse on a cliff in a storm",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": 4,
        "generate_audio": False,
        "fixed_lens": False,
        "seed": 7,
    }
    fields.update(overrides)
    return GenerationSpec(**fields)


def generate(spec: GenerationSpec) -> GenerationResult:
    return PreviewEngine().generate(spec, lambda _fraction: None)


def frames_at(spec: GenerationSpec, *indices: int) -> list[Frame]:
    wanted = set(indices)
    return [f for i, f in enumerate(generate(spec).frames) if i in wanted]


def frame_hashes(spec: GenerationSpec) -> list[str]:
    return [hashlib.sha256(f.tobytes()).hexdigest() for f in generate(spec).frames]


def photo(spec: GenerationSpec) -> Frame:
    """A stand-in input image with fine detail everywhere, so any move of it changes most pixels."""
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    ripples = 60 * np.sin(xx / 3.1) * np.cos(yy / 4.3)
    rgb = [xx * 200 / spec.width + ripples, yy * 200 / spec.height - ripples, 128 + ripples]
    image: Frame = np.clip(np.dstack(rgb) + 30, 0, 255).astype(np.uint8)
    return image


def unchanged_fraction(a: Frame, b: Frame) -> float:
    return float(np.all(a == b, axis=2).mean())


def test_is_an_engine_with_audio_and_image_to_video() -> None:
    engine: Engine = PreviewEngine()
    assert engine.name == "preview"
    assert engine.capabilities.audio
    assert engine.capabilities.image_to_video


def test_same_spec_gives_identical_frames_and_audio() -> None:
    spec = make_spec(generate_audio=True)
    assert frame_hashes(spec) == frame_hashes(spec)
    first, second = generate(spec).audio, generate(spec).audio
    assert first is not None and second is not None
    assert np.array_equal(first.samples, second.samples)


@pytest.mark.parametrize("change", [{"seed": 8}, {"prompt": "a red fox in deep snow"}])
def test_other_seed_or_prompt_gives_a_visibly_different_video(change: dict[str, Any]) -> None:
    before, after = make_spec(), make_spec(**change)
    assert set(frame_hashes(before)).isdisjoint(frame_hashes(after))
    (a,), (b,) = frames_at(before, 0), frames_at(after, 0)
    assert np.abs(a.astype(int) - b).mean() > 10


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fixed_lens_keeps_the_background_still(seed: int) -> None:
    first, later = frames_at(make_spec(seed=seed, fixed_lens=True), 0, 40)
    assert unchanged_fraction(first, later) > 0.85  # only the shapes moved
    assert not np.array_equal(first, later)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_without_fixed_lens_the_camera_moves(seed: int) -> None:
    first, later = frames_at(make_spec(seed=seed), 0, 40)
    assert unchanged_fraction(first, later) < 0.3  # the caption box is the still part


def test_image_to_video_starts_exactly_with_the_image() -> None:
    spec = make_spec()
    image = photo(spec)
    first, later = frames_at(make_spec(first_frame=image), 0, 48)
    assert np.array_equal(first, image)
    assert unchanged_fraction(image, later) < 0.2  # Ken Burns moved it


def test_image_to_video_with_fixed_lens_does_not_move_the_image() -> None:
    spec = make_spec(fixed_lens=True)
    image = photo(spec)
    first, later = frames_at(make_spec(fixed_lens=True, first_frame=image), 0, 48)
    assert np.array_equal(first, image)
    assert 0.5 < unchanged_fraction(image, later) < 1.0  # light, motes and caption only


def test_image_to_video_first_frame_survives_encoding(tmp_path: Path) -> None:
    (picture,) = frames_at(make_spec(prompt="a picture to animate"), 30)  # natural-ish content
    spec = make_spec(first_frame=picture, generate_audio=True)
    out = tmp_path / "i2v.mp4"
    result = generate(spec)
    encode_mp4(
        result.frames,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=result.frame_count,
        audio=result.audio,
        out_path=out,
    )
    with av.open(str(out)) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(decoded.astype(int) - picture).mean() < 3


def test_rejects_a_first_frame_of_the_wrong_size() -> None:
    with pytest.raises(EngineError, match="first frame"):
        generate(make_spec(first_frame=np.zeros((10, 10, 3), np.uint8)))


def test_audio_is_music_of_exactly_the_video_length() -> None:
    for duration in presets.DURATIONS:
        audio = generate(make_spec(generate_audio=True, duration=duration)).audio
        assert audio is not None
        assert audio.samples.dtype == np.float32
        assert audio.samples.shape == (2, duration * audio.sample_rate)
        assert audio.duration == duration
        assert float(np.sqrt(np.mean(audio.samples**2))) > 0.05  # not silence
        assert float(np.abs(audio.samples).max()) <= 1.0


def test_audio_depends_on_the_prompt() -> None:
    a = generate(make_spec(generate_audio=True)).audio
    b = generate(make_spec(generate_audio=True, prompt="calm lake at noon")).audio
    assert a is not None and b is not None
    assert not np.array_equal(a.samples, b.samples)


def test_no_audio_unless_asked() -> None:
    assert generate(make_spec(generate_audio=False)).audio is None


def test_frames_are_lazy_and_progress_rises_to_one() -> None:
    seen: list[float] = []
    result = PreviewEngine().generate(make_spec(), seen.append)
    assert isinstance(result.frames, Iterator)
    assert seen == []  # nothing rendered yet
    count = sum(1 for _ in result.frames)
    assert count == result.frame_count == 96
    assert seen[0] == 0.0
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert len(seen) == count + 1


@pytest.mark.parametrize(
    "prompt",
    [
        "word " * 400,
        "x" * 2000,
        "Ein Fuchs läuft durch den Schnee — 雪の中の狐 🦊",
        "line one\nline two\ttabbed",
    ],
)
def test_any_valid_prompt_renders_a_caption(prompt: str) -> None:
    spec = make_spec(prompt=prompt.strip(), aspect_ratio="9:21")
    (frame,) = frames_at(spec, 0)
    assert frame.shape == (spec.height, spec.width, 3)


@pytest.mark.parametrize(("aspect_ratio", "resolution"), sorted(presets.FRAME_SIZES))
def test_every_geometry_cell_renders_at_the_contract_size(
    aspect_ratio: str, resolution: str
) -> None:
    width, height = presets.frame_size(aspect_ratio, resolution)
    for spec in (
        make_spec(aspect_ratio=aspect_ratio, resolution=resolution),
        make_spec(aspect_ratio=aspect_ratio, resolution=resolution, fixed_lens=True),
    ):
        for frame in islice(generate(spec).frames, 2):
            assert frame.shape == (height, width, 3)
            assert frame.dtype == np.uint8


@pytest.mark.parametrize(("aspect_ratio", "resolution"), [("9:21", "720p"), ("21:9", "480p")])
def test_encoded_video_matches_the_contract(
    tmp_path: Path, aspect_ratio: str, resolution: str
) -> None:
    spec = make_spec(aspect_ratio=aspect_ratio, resolution=resolution, generate_audio=True)
    out = tmp_path / "v.mp4"
    result = generate(spec)
    encode_mp4(
        result.frames,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frame_count=result.frame_count,
        audio=result.audio,
        out_path=out,
    )
    problems = check_output(
        probe_mp4(out),
        width=spec.width,
        height=spec.height,
        fps=24,
        frame_count=96,
        audio=True,
    )
    assert problems == []
