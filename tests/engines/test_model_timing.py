"""The frame and geometry policy of the model engines (pure functions; no torch)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from opendance.engines.diffusers.camera import (
    CAMERA_MOTION_NEGATIVE,
    STATIC_CAMERA_PROMPT,
    conditioned_prompts,
)
from opendance.engines.diffusers.timing import (
    conform_frames,
    frames_to_generate,
    generation_size,
    output_frame_sources,
    to_uint8,
)


@pytest.mark.parametrize(
    ("seconds", "fps", "multiple", "expected"),
    [
        (4, 24, 8, 97),  # LTX-2: 8k+1 covering 96 frames
        (8, 24, 8, 193),
        (12, 24, 8, 289),
        (4, 16, 4, 65),  # Wan: 4k+1 at its native 16 fps
        (8, 16, 4, 129),
        (12, 16, 4, 193),
        (1, 24, 8, 25),
    ],
)
def test_frames_to_generate_is_the_smallest_grid_count_covering_the_duration(
    seconds: int, fps: int, multiple: int, expected: int
) -> None:
    count = frames_to_generate(seconds, fps, multiple)
    assert count == expected
    assert (count - 1) % multiple == 0 and count >= seconds * fps
    assert count - multiple < seconds * fps  # one step less would not cover it


def test_native_24_fps_output_is_the_generated_frames_minus_the_surplus() -> None:
    assert output_frame_sources(97, 24, 96, 24) == list(range(96))


def test_16_fps_output_follows_the_timestamps_with_an_even_cadence() -> None:
    sources = output_frame_sources(65, 16, 96, 24)
    assert len(sources) == 96 and sources[0] == 0 and sources[-1] == 63
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(sources))
    # every generated frame of the 4 s is shown, each for 1 or 2 output frames (1.5 on average)
    counts = np.bincount(sources)
    assert set(counts.tolist()) == {1, 2} and len(counts) == 64
    # output frame i is the one on screen at i / 24 s
    for i, source in enumerate(sources):
        assert source / 16 <= i / 24 < (source + 1) / 16


def test_too_few_generated_frames_is_an_error_not_padding() -> None:
    with pytest.raises(ValueError, match="shorter"):
        output_frame_sources(60, 16, 96, 24)


def test_generation_size_keeps_grid_sizes_and_snaps_others() -> None:
    assert generation_size(864, 480, 32) == (864, 480)
    assert generation_size(1248, 704, 16) == (1248, 704)
    assert generation_size(864, 480, 64) == (896, 512)  # per side, to the nearest multiple


def test_conform_frames_converts_resizes_and_resamples() -> None:
    video = np.zeros((9, 32, 48, 3), dtype=np.float32)
    for index in range(9):
        video[index] = index / 8  # frame index readable from its brightness
    frames = list(conform_frames(video, source_fps=16, width=64, height=40, count=12, fps=24))
    assert len(frames) == 12
    assert all(f.shape == (40, 64, 3) and f.dtype == np.uint8 for f in frames)
    levels = [int(f[20, 32, 0]) for f in frames]
    expected = [round(s / 8 * 255) for s in output_frame_sources(9, 16, 12, 24)]
    assert levels == expected


def test_to_uint8_rounds_and_clips() -> None:
    frame = np.array([[[-0.5, 0.0, 0.5], [1.0, 1.5, 0.998]]], dtype=np.float32)
    assert to_uint8(frame).tolist() == [[[0, 0, 128], [255, 255, 254]]]


def test_fixed_lens_adds_static_camera_prompt_and_motion_negative() -> None:
    prompt, negative = conditioned_prompts("A fox in snow ", "blurry", fixed_lens=True)
    assert prompt == f"A fox in snow {STATIC_CAMERA_PROMPT}"
    assert negative == f"blurry, {CAMERA_MOTION_NEGATIVE}"
    assert conditioned_prompts("A fox", "blurry", fixed_lens=False) == ("A fox", "blurry")
