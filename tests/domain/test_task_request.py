"""The typed request's geometry: the size a video is delivered at, and an adaptive aspect ratio
made concrete from the first frame."""

from __future__ import annotations

import pytest

from opendance.domain import presets
from opendance.domain.task_request import TaskRequest


def request(**fields: object) -> TaskRequest:
    values: dict[str, object] = {
        "prompt": "a lighthouse in a storm",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": 4,
        "generate_audio": False,
        "fixed_lens": False,
        "seed": 5,
    }
    values.update(fields)
    return TaskRequest(**values)  # type: ignore[arg-type]


def test_the_spec_delivers_the_output_size_and_generates_the_preset() -> None:
    spec = request(output_size=(1280, 720)).to_spec()
    assert (spec.width, spec.height) == (1248, 704)
    assert spec.delivered_size == (1280, 720)
    assert request().to_spec().delivered_size == (1248, 704)


@pytest.mark.parametrize(
    ("image_size", "aspect_ratio"),
    [
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((1000, 1010), "1:1"),
        ((1600, 1200), "4:3"),
        ((2560, 1080), "21:9"),
        ((600, 800), "3:4"),
        (None, "16:9"),
    ],
)
def test_an_adaptive_ratio_is_taken_from_the_first_frame(
    image_size: tuple[int, int] | None, aspect_ratio: str
) -> None:
    resolved = request(aspect_ratio=presets.ADAPTIVE, resolution="480p").resolved(image_size)
    assert resolved.aspect_ratio == aspect_ratio
    assert resolved.resolution == "480p" and resolved.prompt == "a lighthouse in a storm"
    assert resolved.frame_size == presets.frame_size(aspect_ratio, "480p")


def test_a_given_ratio_is_kept_whatever_the_image() -> None:
    given = request(aspect_ratio="9:16")
    assert given.resolved((1920, 1080)) is given
