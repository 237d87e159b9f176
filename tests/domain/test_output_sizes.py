"""The OpenAI dialect's exact sizes and the presets that make them."""

from __future__ import annotations

import pytest

from opendance.domain import presets
from opendance.domain.output_sizes import SizeChoice, choose_preset, parse_size, supported_sizes


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1280, 720), SizeChoice("16:9", "720p", (1280, 720))),
        ((720, 1280), SizeChoice("9:16", "720p", (720, 1280))),
        ((854, 480), SizeChoice("16:9", "480p", (854, 480))),
        ((480, 854), SizeChoice("9:16", "480p", (480, 854))),
        ((640, 480), SizeChoice("4:3", "480p", (640, 480))),
        ((1000, 1000), SizeChoice("1:1", "720p", (1000, 1000))),  # 1:1 is meant
        ((1024, 576), SizeChoice("16:9", "480p", (1024, 576))),  # nearer 864x480 than 1248x704
    ],
)
def test_a_size_is_made_by_the_nearest_preset(size: tuple[int, int], expected: SizeChoice) -> None:
    assert choose_preset(*size) == expected


@pytest.mark.parametrize(("key", "geometry"), sorted(presets.FRAME_SIZES.items()))
def test_every_preset_geometry_is_its_own_size_without_scaling(
    key: tuple[str, str], geometry: tuple[int, int]
) -> None:
    assert choose_preset(*geometry) == SizeChoice(*key, None)


@pytest.mark.parametrize(
    "size",
    [
        (1792, 1024),  # OpenAI's sora-2-pro sizes: above 720p
        (1024, 1792),
        (1920, 1080),
        (1200, 600),  # 2:1, between 16:9 and 21:9
        (320, 180),  # less than half of 480p
        (855, 481),  # odd sides cannot be H.264 4:2:0
    ],
)
def test_a_size_no_preset_can_make_is_refused(size: tuple[int, int]) -> None:
    assert choose_preset(*size) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1280x720", (1280, 720)),
        ("1280X720", None),
        (" 1280x720", None),
        ("1280x", None),
        ("0720x1280", None),
        ("1280*720", None),
        ("٨٨٨x720", None),  # other scripts' digits are not digits here
        ("999999x720", None),
    ],
)
def test_sizes_are_spelt_width_x_height(text: str, parsed: tuple[int, int] | None) -> None:
    assert parse_size(text) == parsed


def test_the_supported_sizes_start_with_the_common_ones_and_name_every_preset() -> None:
    listed = supported_sizes()
    assert listed[:2] == ["1280x720", "720x1280"]
    assert all(choose_preset(*parse_size(size)) is not None for size in listed)  # type: ignore[misc]
    assert {f"{w}x{h}" for w, h in presets.FRAME_SIZES.values()} <= set(listed)
    assert len(listed) == len(set(listed))
