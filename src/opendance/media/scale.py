"""Scaling RGB frames to the size a video is delivered at.

A task may ask for an exact output size that differs from the preset geometry its engine
generates (an OpenAI ``size`` of 1280x720 for the 1248x704 preset): the encoder scales every
frame to it (:func:`opendance.media.encode.encode_mp4`), and the stills of that video (poster,
last frame) are scaled here with the same filter, so that they show the pixels the video does.
The scale is plain, not a crop: the preset nearest a requested ratio differs from it by a
percent or two, a stretch nobody sees, and every generated pixel stays in the picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import av
import numpy as np
from av.video.reformatter import VideoReformatter

if TYPE_CHECKING:
    import numpy.typing as npt

SCALER: Final = "BICUBIC"
"""The swscale filter that scales frames to another output size: sharper than swscale's
bilinear default at the small factors between the presets' sizes and the doors'."""


def scale_rgb(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """``rgb`` (height, width, 3) scaled to ``width x height``; the same array when it is that
    size already."""
    if rgb.shape[:2] == (height, width):
        return rgb
    source = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    scaled = VideoReformatter().reformat(
        source, width=width, height=height, format="rgb24", interpolation=SCALER
    )
    return np.asarray(scaled.to_ndarray(), dtype=np.uint8)
