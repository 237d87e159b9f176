"""The colours of one video: a sky gradient, a glow, hill tones and accents around one hue."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

RGB: TypeAlias = tuple[int, int, int]


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    sky_bottom: RGB
    glow: RGB
    hills: tuple[RGB, ...]
    accents: tuple[RGB, ...]
    night: bool

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Palette:
        hue = float(rng.random())
        spread = float(rng.choice([0.08, 0.5, 1 / 3, 0.12]))  # analogous, complement, triad
        night = bool(rng.random() < 0.3)
        sky_v = (0.22, 0.10) if night else (0.95, 0.75)
        return cls(
            sky_top=_hsv(hue + spread, 0.55, sky_v[1]),
            sky_bottom=_hsv(hue, 0.6 if night else 0.35, sky_v[0]),
            glow=_hsv(hue + 0.05, 0.25, 1.0),
            hills=tuple(_hsv(hue - spread / 2, 0.45 + 0.1 * i, 0.55 - 0.15 * i) for i in range(3)),
            accents=tuple(
                _hsv(hue + spread * k + float(rng.normal(0, 0.03)), 0.8, 0.95) for k in range(4)
            ),
            night=night,
        )
