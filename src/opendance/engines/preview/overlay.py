"""RGBA images composited onto frames: the caption, shape sprites, the light and the motes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from opendance.engines.preview.palette import RGB


class Overlay:
    """An RGBA image pasted by its own alpha; ``weight`` < 1 fades it (only while fading in)."""

    def __init__(self, rgba: Image.Image) -> None:
        self.image, self.alpha = rgba, rgba.getchannel("A")
        self.width, self.height = rgba.size

    def paste(self, frame: Image.Image, x: int, y: int, weight: float = 1.0) -> None:
        if weight <= 0.0:
            return
        k = round(weight * 256)
        mask = self.alpha if k >= 256 else self.alpha.point(lambda v: v * k // 256)
        frame.paste(self.image, (x, y), mask)  # Pillow clips to the frame


def glow(diameter: int, color: RGB, opacity: float, power: float = 3.0) -> Image.Image:
    """A round soft light of one colour, as RGBA; its alpha falls off like a Gaussian."""
    grid = (np.arange(diameter, dtype=np.float32) - diameter / 2 + 0.5) / (diameter / 2)
    alpha = np.exp(-power * (grid[:, None] ** 2 + grid[None, :] ** 2)) * (255 * opacity)
    rgba = np.empty((diameter, diameter, 4), np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = np.clip(alpha + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgba, mode="RGBA")
