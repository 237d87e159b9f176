"""Exact output sizes (the OpenAI dialect's ``size``, ``"1280x720"``) and the preset that makes
each one.

Engines generate at the preset geometries (``presets.FRAME_SIZES``, every side a multiple of
32); a client of the OpenAI dialect names the size of the MP4 it wants. A size is made by the
preset nearest it, and the worker scales the frames to the exact size when the two differ
(``TaskRequest.output_size``). Only sizes a preset can make without visible harm are accepted:

- both sides even: H.264 in 4:2:0 (what every player plays) cannot store an odd side;
- the shape within 3 % of the preset's: a scale that small is invisible, a larger one would
  squash the picture;
- from half of the preset's sides up to 1.25 times them: beyond that the frames would be blown
  up past what was generated (``1792x1024`` or ``1920x1080`` above 720p), or most of the pixels
  paid for would be thrown away.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from opendance.domain import presets

MAX_SHAPE_ERROR: Final = 0.03
"""How far (log of the ratio of aspect ratios) a size's shape may be from its preset's."""
MAX_UPSCALE: Final = 1.25
MIN_SCALE: Final = 0.5
_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")

COMMON_SIZES: Final = ("1280x720", "720x1280", "854x480", "480x854")
"""Sizes clients ask for most (OpenAI's defaults and 480p's usual name); with the preset
geometries, what an error lists as supported."""


@dataclass(frozen=True)
class SizeChoice:
    """The preset that makes a requested size, and the size when it is not the preset's own."""

    aspect_ratio: str
    resolution: str
    output_size: tuple[int, int] | None


def parse_size(text: str) -> tuple[int, int] | None:
    """``(width, height)`` of ``"WxH"`` (digits, a lower-case x, no spaces); None otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def choose_preset(width: int, height: int) -> SizeChoice | None:
    """The preset nearest ``width`` x ``height`` (by the scale of each side), or None when no
    preset can make that size (see the module's rules)."""
    if width % 2 or height % 2:
        return None

    def distance(key: tuple[str, str]) -> float:
        preset_width, preset_height = presets.FRAME_SIZES[key]
        return abs(math.log(width / preset_width)) + abs(math.log(height / preset_height))

    aspect_ratio, resolution = min(presets.FRAME_SIZES, key=distance)
    preset_width, preset_height = presets.FRAME_SIZES[(aspect_ratio, resolution)]
    shape_error = abs(math.log((width / height) / (preset_width / preset_height)))
    scales = (width / preset_width, height / preset_height)
    if shape_error > MAX_SHAPE_ERROR or max(scales) > MAX_UPSCALE or min(scales) < MIN_SCALE:
        return None
    exact = (width, height) == (preset_width, preset_height)
    return SizeChoice(aspect_ratio, resolution, None if exact else (width, height))


def supported_sizes() -> list[str]:
    """The sizes an error names as supported: the common ones, then every preset geometry."""
    geometries = [f"{w}x{h}" for w, h in presets.FRAME_SIZES.values()]
    return [*COMMON_SIZES, *(size for size in geometries if size not in COMMON_SIZES)]


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
