"""The OpenAI ``size`` the playground shows for each preset."""

from __future__ import annotations

import pytest

from opendance.domain import output_sizes
from opendance.domain.presets import ASPECT_RATIOS, RESOLUTIONS
from opendance.web.playground import openai_size


@pytest.mark.parametrize(
    ("aspect_ratio", "resolution", "size"),
    [
        ("16:9", "720p", "1280x720"),
        ("9:16", "720p", "720x1280"),
        ("16:9", "480p", "854x480"),
        ("9:16", "480p", "480x854"),
        ("1:1", "720p", "960x960"),
        ("1:1", "480p", "640x640"),
        ("21:9", "720p", "1504x640"),
    ],
)
def test_a_preset_has_the_size_openai_clients_know(
    aspect_ratio: str, resolution: str, size: str
) -> None:
    assert openai_size(aspect_ratio, resolution) == size


def test_the_openai_door_makes_every_size_with_its_own_preset() -> None:
    for aspect_ratio in ASPECT_RATIOS:
        for resolution in RESOLUTIONS:
            size = output_sizes.parse_size(openai_size(aspect_ratio, resolution))
            assert size is not None
            choice = output_sizes.choose_preset(*size)
            assert choice is not None
            assert (choice.aspect_ratio, choice.resolution) == (aspect_ratio, resolution)
