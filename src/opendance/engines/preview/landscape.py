"""The text-to-video world: one still image that the camera moves over."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.engines.preview.palette import Palette

    Frame: TypeAlias = npt.NDArray[np.uint8]


def landscape(rng: np.random.Generator, palette: Palette, w: int, h: int) -> Frame:
    """Sky with glows, a sun or moon (and stars at night), three ridges of hills. Edges are
    anti-aliased analytically (coverage from the distance to the edge), not by supersampling."""
    gw, gh = max(w // 8, 2), max(h // 8, 2)  # the sky is smooth: compute it coarse, upscale
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    tilt = float(rng.uniform(-0.6, 0.6))
    u = yy / gh * math.cos(tilt) + xx / gw * math.sin(tilt)
    u = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    top, bottom = np.array(palette.sky_top, np.float32), np.array(palette.sky_bottom, np.float32)
    sky = top + (bottom - top) * u[..., None]
    for color in (palette.glow, *palette.accents[:2]):
        gx, gy, radius = rng.uniform(0, gw), rng.uniform(0, gh * 0.6), rng.uniform(0.15, 0.4) * gw
        falloff = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / radius**2)
        sky += (np.array(color, np.float32) - sky) * (0.35 * falloff[..., None])
    coarse = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    world = np.asarray(coarse.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32).copy()

    if palette.night:
        count = w * h // 4000
        sx, sy = rng.integers(0, w, count), rng.integers(0, h * 2 // 3, count)
        world[sy, sx] = np.maximum(world[sy, sx], rng.uniform(150, 255, (count, 1)))
    radius = min(w, h) * float(rng.uniform(0.05, 0.09))
    cx, cy = float(rng.uniform(0.2, 0.8)) * w, float(rng.uniform(0.15, 0.4)) * h
    x0, y0 = int(cx - radius - 2), int(cy - radius - 2)
    x1, y1 = int(cx + radius + 2), int(cy + radius + 2)
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cover = np.clip(radius - np.hypot(px - cx, py - cy) + 0.5, 0, 1)[..., None]
    disc = world[y0:y1, x0:x1]
    disc += (np.array(palette.glow, np.float32) - disc) * cover

    xs = np.arange(w, dtype=np.float32)
    haze = np.array(palette.sky_bottom, np.float32)
    for depth, color in enumerate(palette.hills):
        ridge = np.full(w, h * (0.55 + 0.12 * depth), np.float32)
        for _ in range(3):
            amp, cycles = rng.uniform(0.02, 0.07) * h, rng.uniform(0.5, 4.0)
            ridge += amp * np.sin(2 * math.pi * cycles * xs / w + rng.uniform(0, 2 * math.pi))
        start = max(int(ridge.min()) - 1, 0)
        below = np.arange(start, h, dtype=np.float32)[:, None] - ridge[None, :]
        cover = np.clip(below + 0.5, 0, 1)[..., None]
        # Farther ridges fade into the sky (aerial perspective); each darkens below its crest.
        tint = np.array(color, np.float32) * (0.6 + 0.2 * depth) + haze * (0.4 - 0.2 * depth)
        shade = 1.1 - 0.35 * np.clip(below / (0.35 * h), 0, 1)[..., None]
        band = world[start:]
        band += (tint * shade - band) * cover
    return np.clip(world, 0, 255).astype(np.uint8)
