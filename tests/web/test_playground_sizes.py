"""The OpenAI ``size`` the playground shows for each preset."""

from __future__ import annotations

import math

import pytest

from opendance.domain.presets import ASPECT_RATIOS, FRAME_SIZES, RESOLUTIONS
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


def test_every_size_is_nearest_to_its_own_preset() -> None:
    """Nearest by how much each side would be scaled: a size never lands on another preset."""

    def distance(size: tuple[int, int], preset: tuple[int, int]) -> float:
        return abs(math.log(size[0] / preset[0])) + abs(math.log(size[1] / preset[1]))

    for aspect_ratio in ASPECT_RATIOS:
        for resolution in RESOLUTIONS:
            width, height = map(int, openai_size(aspect_ratio, resolution).split("x"))
            nearest = min(FRAME_SIZES, key=lambda k: distance((width, height), FRAME_SIZES[k]))
            assert nearest == (aspect_ratio, resolution)
