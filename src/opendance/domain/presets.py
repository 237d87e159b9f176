"""Output geometry: frame sizes per aspect ratio and resolution, frame rate, frame counts."""

from __future__ import annotations

import math
from typing import Final

FPS: Final = 24
ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
RESOLUTIONS: Final = ("480p", "720p")
DURATIONS: Final = (4, 8, 12)
MAX_PROMPT_CHARS: Final = 2000
MAX_IMAGES: Final = 1  # first-frame images per request

# width, height; every side a multiple of 32 so that latent-space models need no padding.
FRAME_SIZES: Final[dict[tuple[str, str], tuple[int, int]]] = {
    ("16:9", "480p"): (864, 480),
    ("16:9", "720p"): (1248, 704),
    ("4:3", "480p"): (736, 544),
    ("4:3", "720p"): (1120, 832),
    ("1:1", "480p"): (640, 640),
    ("1:1", "720p"): (960, 960),
    ("3:4", "480p"): (544, 736),
    ("3:4", "720p"): (832, 1120),
    ("9:16", "480p"): (480, 864),
    ("9:16", "720p"): (704, 1248),
    ("21:9", "480p"): (960, 416),
    ("21:9", "720p"): (1504, 640),
    ("9:21", "480p"): (416, 960),
    ("9:21", "720p"): (640, 1504),
}


def frame_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Width and height in pixels of a video of this aspect ratio and resolution."""
    return FRAME_SIZES[(aspect_ratio, resolution)]


def frame_count(duration_seconds: int) -> int:
    """Exact number of frames of a video of this duration."""
    return FPS * duration_seconds


ADAPTIVE: Final = "adaptive"
"""An aspect ratio to take from the first frame (Ark's ``ratio: adaptive``): the offered ratio
nearest the image's, 16:9 without an image. Resolved where the image's size is known (the
worker, once it has the image: ``TaskRequest.resolved``)."""
ADAPTIVE_WITHOUT_IMAGE: Final = "16:9"


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The offered aspect ratio nearest ``width``:``height`` (compared on a log scale, so that
    2:1 is as far from 1:1 as 1:2)."""
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)
