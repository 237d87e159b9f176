"""What moves over the background: spinning shapes (text-to-video) and motes (image-to-video)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from opendance.engines.preview.overlay import Overlay, glow

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.engines.preview.palette import RGB, Palette

_SYMMETRY: Final = {"circle": 0, "ring": 0, "square": 4, "triangle": 3, "star": 5, "diamond": 2}
_ORIENTATIONS: Final = 12
"""Pre-rendered rotations per symmetry period of a shape: spinning costs no per-frame drawing."""


def _shape_rgba(kind: str, size: int, color: RGB, angle: float) -> Image.Image:
    """One anti-aliased shape, shaded as if lit from above, with a soft drop shadow."""
    ss, side = 3, math.ceil(size * 1.6)  # room to rotate and for the shadow
    mask = Image.new("L", (side * ss, side * ss), 0)
    draw = ImageDraw.Draw(mask)
    c, r = side * ss / 2, size * ss / 2
    if kind in ("circle", "ring"):
        draw.ellipse((c - r, c - r, c + r, c + r), fill=255)
        if kind == "ring":
            draw.ellipse((c - r * 0.55, c - r * 0.55, c + r * 0.55, c + r * 0.55), fill=0)
    else:
        radii = {"star": (r, r * 0.45), "diamond": (r, r * 0.6), "square": (r,), "triangle": (r,)}
        corners = {"star": 10, "diamond": 4, "square": 4, "triangle": 3}[kind]
        rs = radii[kind]
        draw.polygon(
            [
                (
                    c + rs[k % len(rs)] * math.cos(angle + 2 * math.pi * k / corners),
                    c + rs[k % len(rs)] * math.sin(angle + 2 * math.pi * k / corners),
                )
                for k in range(corners)
            ],
            fill=255,
        )
    mask = mask.resize((side, side), Image.Resampling.BOX)
    alpha = np.asarray(mask, dtype=np.float32) / 255
    shift = max(size // 16, 1)
    blurred = np.asarray(mask.filter(ImageFilter.GaussianBlur(max(size / 20, 1))), np.float32)
    shadow = np.zeros_like(alpha)
    shadow[shift:, shift:] = blurred[:-shift, :-shift] / 255 * 0.45
    shade = np.linspace(1.35, 0.8, side, dtype=np.float32)[:, None, None]
    rgb = np.clip(np.array(color, np.float32) * shade, 0, 255) * np.ones((1, side, 1), np.float32)
    out_alpha = alpha + shadow * (1 - alpha)  # shape over a black shadow, straight alpha
    out_rgb = rgb * (alpha / np.maximum(out_alpha, 1e-6))[..., None]
    rgba = np.concatenate([out_rgb, out_alpha[..., None] * 255], axis=2)
    return Image.fromarray(np.clip(rgba + 0.5, 0, 255).astype(np.uint8), mode="RGBA")


class Shape:
    """A subject: a spinning shape on a Lissajous path through the world.

    Each rotation step is drawn the first time a frame needs it and kept: the first frame is
    ready sooner, and the drawing of later steps overlaps with the encoding of earlier frames.
    """

    def __init__(
        self, kind: str, size: int, color: RGB, path: npt.NDArray[np.float64], step: int
    ) -> None:
        self.kind, self.size, self.color, self.path, self.step = kind, size, color, path, step
        self.period = 2 * math.pi / _SYMMETRY[kind] if _SYMMETRY[kind] else 0.0
        self.turns = _ORIENTATIONS if self.period else 1
        self._sprites: dict[int, Overlay] = {}

    @classmethod
    def draw(cls, rng: np.random.Generator, palette: Palette, scale: int) -> Shape:
        kind = str(rng.choice(list(_SYMMETRY)))
        size = max(round(scale * float(rng.uniform(0.09, 0.15))), 8)
        color = palette.accents[int(rng.integers(len(palette.accents)))]
        # amplitude x, y (fractions of the frame), frequency x, y (Hz), phase x, y
        path = np.concatenate(
            [rng.uniform(0.1, 0.38, 2), rng.uniform(0.04, 0.14, 2), rng.uniform(0, 2 * math.pi, 2)]
        )
        step = int(rng.choice([-3, -2, 2, 3]))  # frames per rotation step; sign = direction
        return cls(kind, size, color, path, step)

    def sprite(self, index: int) -> Overlay:
        turn = index // abs(self.step) * (1 if self.step > 0 else -1) % self.turns
        if turn not in self._sprites:
            angle = self.period * turn / self.turns
            self._sprites[turn] = Overlay(_shape_rgba(self.kind, self.size, self.color, angle))
        return self._sprites[turn]

    def position(
        self, t: float, world_w: int, world_h: int, width: int, height: int
    ) -> tuple[float, float]:
        ax, ay, fx, fy, px, py = self.path
        return (
            world_w / 2 + ax * width * math.sin(2 * math.pi * fx * t + px),
            world_h / 2 + ay * height * math.sin(2 * math.pi * fy * t + py),
        )


class Mote:
    """A floating speck of light for image-to-video: rises slowly and sways."""

    def __init__(self, overlay: Overlay, params: npt.NDArray[np.float64], height: int) -> None:
        self.overlay, self.params, self.height = overlay, params, height

    @classmethod
    def draw(cls, rng: np.random.Generator, scale: int, width: int, height: int) -> Mote:
        diameter = max(round(scale * float(rng.uniform(0.015, 0.04))), 4)
        # x0, y0, rising speed (px/s), sway amplitude (px), sway frequency (Hz), phase
        params = np.array(
            [
                rng.uniform(0, width),
                rng.uniform(0, height),
                rng.uniform(0.02, 0.06) * height,
                rng.uniform(0.01, 0.04) * width,
                rng.uniform(0.1, 0.3),
                rng.uniform(0, 2 * math.pi),
            ]
        )
        speck = glow(diameter, (255, 255, 255), float(rng.uniform(0.4, 0.8)), power=2.5)
        return cls(Overlay(speck), params, height)

    def position(self, t: float) -> tuple[float, float]:
        x0, y0, speed, sway, freq, phase = self.params
        span = self.height + self.overlay.height
        y = (y0 - speed * t) % span - self.overlay.height
        return x0 + sway * math.sin(2 * math.pi * freq * t + phase), y
