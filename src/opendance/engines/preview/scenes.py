"""Scenes: what is prepared once per video, and how frame ``index`` is composed from it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, TypeAlias

import numpy as np
from PIL import Image

from opendance.engines.preview.caption import caption
from opendance.engines.preview.landscape import landscape
from opendance.engines.preview.overlay import Overlay, glow
from opendance.engines.preview.palette import Palette
from opendance.engines.preview.seeding import spec_rng
from opendance.engines.preview.sprites import Mote, Shape

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

    Frame: TypeAlias = npt.NDArray[np.uint8]

WORLD_MARGIN: Final = 0.15
"""The text-to-video world extends this fraction of the frame beyond each edge: camera room."""
FADE_IN_FRAMES: Final = 12
"""Image-to-video overlays fade in over this many frames, so frame 0 is the untouched image."""


def _ease(u: float) -> float:
    return u * u * (3 - 2 * u)


class Scene:
    """Pre-rendered parts of one video; ``render`` composes frame ``index`` from them."""

    def __init__(self, spec: GenerationSpec) -> None:
        self.width, self.height, self.fps = spec.width, spec.height, spec.fps
        self.frame_count = spec.frame_count
        self.caption, self.caption_xy = caption(spec)

    def render(self, index: int) -> Frame:
        raise NotImplementedError

    def progress(self, index: int) -> float:
        """0 at the first frame, 1 at the last: camera moves span the whole video."""
        return index / max(self.frame_count - 1, 1)

    def view(self, source: Image.Image, scale: float, cx: float, cy: float) -> Image.Image:
        """The frame-sized window of ``source`` centred on (cx, cy), ``scale`` source pixels per
        output pixel, nearest-neighbour: the sources are stored at twice the resolution they are
        shown at, so this is half-pixel exact, and no filter runs per frame."""
        left, top = cx - scale * self.width / 2, cy - scale * self.height / 2
        return source.transform(
            (self.width, self.height),
            Image.Transform.AFFINE,
            (scale, 0.0, left, 0.0, scale, top),
            Image.Resampling.NEAREST,
        )


class TextScene(Scene):
    """Text-to-video: a hashed landscape seen through a moving camera, with shapes moving in it."""

    def __init__(self, spec: GenerationSpec) -> None:
        super().__init__(spec)
        rng = spec_rng(spec, "scene")
        palette = Palette.draw(rng)
        self.world_w = round(self.width * (1 + 2 * WORLD_MARGIN))
        self.world_h = round(self.height * (1 + 2 * WORLD_MARGIN))
        world = landscape(rng, palette, self.world_w, self.world_h)
        cameras = ["pan", "push", "pull", "drift"]
        self.camera = "still" if spec.fixed_lens else str(rng.choice(cameras))
        self.direction = float(rng.choice([-1.0, 1.0]))
        self.sway = rng.uniform(0, 2 * math.pi, size=3)
        self.shapes = [Shape.draw(rng, palette, min(self.width, self.height)) for _ in range(4)]
        if spec.fixed_lens:  # one still background, copied per frame
            x0, y0 = (self.world_w - self.width) // 2, (self.world_h - self.height) // 2
            self.source = Image.fromarray(world[y0 : y0 + self.height, x0 : x0 + self.width])
        else:
            self.source = Image.fromarray(world).resize(
                (2 * self.world_w, 2 * self.world_h), Image.Resampling.BILINEAR
            )

    def camera_at(self, index: int) -> tuple[float, float, float]:
        """Centre (world pixels) and zoom of the camera at frame ``index``."""
        u, t = _ease(self.progress(index)), index / self.fps
        cx, cy, zoom = self.world_w / 2, self.world_h / 2, 1.0
        reach_x, reach_y = self.width * WORLD_MARGIN, self.height * WORLD_MARGIN
        if self.camera == "pan":
            cx += self.direction * reach_x * 0.9 * (2 * u - 1)
            cy += reach_y * 0.3 * math.sin(math.pi * u + self.sway[0])
        elif self.camera in ("push", "pull"):
            zoom = 1 + 0.25 * (u if self.camera == "push" else 1 - u)
            cx += self.direction * reach_x * 0.5 * u
        elif self.camera == "drift":
            zoom = 1.06 + 0.04 * math.sin(2 * math.pi * t / 7 + self.sway[2])
            cx += reach_x * 0.6 * math.sin(2 * math.pi * t / 5 + self.sway[0])
            cy += reach_y * 0.5 * math.sin(2 * math.pi * t / 6.5 + self.sway[1])
        return cx, cy, zoom

    def render(self, index: int) -> Frame:
        cx, cy, zoom = self.camera_at(index)
        if self.camera == "still":
            frame = self.source.copy()
        else:
            frame = self.view(self.source, 2 / zoom, 2 * cx, 2 * cy)
        left, top = cx - self.width / (2 * zoom), cy - self.height / (2 * zoom)
        t = index / self.fps
        for shape in self.shapes:
            wx, wy = shape.position(t, self.world_w, self.world_h, self.width, self.height)
            sprite = shape.sprite(index)
            x = round((wx - left) * zoom - sprite.width / 2)
            y = round((wy - top) * zoom - sprite.height / 2)
            sprite.paste(frame, x, y)
        self.caption.paste(frame, *self.caption_xy)
        return np.asarray(frame)


class ImageScene(Scene):
    """Image-to-video: the first frame, slowly moved (unless fixed), lit and dusted with motes."""

    def __init__(self, spec: GenerationSpec, first: Frame) -> None:
        super().__init__(spec)
        rng = spec_rng(spec, "scene")
        self.first = first
        self.moving = not spec.fixed_lens
        image = Image.fromarray(first)
        self.source = (
            image.resize((2 * self.width, 2 * self.height), Image.Resampling.BICUBIC)
            if self.moving
            else image
        )
        self.zoom_to = float(rng.uniform(1.08, 1.18))
        self.target = rng.uniform(-1, 1, size=2)
        palette = Palette.draw(rng)
        scale = min(self.width, self.height)
        self.light = Overlay(glow(round(scale * 0.5), palette.glow, 0.35))
        self.light_path = rng.uniform(0, 2 * math.pi, size=2)
        self.motes = [Mote.draw(rng, scale, self.width, self.height) for _ in range(10)]

    def render(self, index: int) -> Frame:
        if index == 0:
            return self.first.copy()  # exactly the given image: every overlay starts at weight 0
        u, t = _ease(self.progress(index)), index / self.fps
        if self.moving:
            zoom = 1 + (self.zoom_to - 1) * u
            # Keep the window inside the image: the centre may move by the zoomed-away margin.
            cx = self.width / 2 * (1 + self.target[0] * (1 - 1 / zoom))
            cy = self.height / 2 * (1 + self.target[1] * (1 - 1 / zoom))
            frame = self.view(self.source, 2 / zoom, 2 * cx, 2 * cy)
        else:
            frame = self.source.copy()
        weight = min(index / FADE_IN_FRAMES, 1.0)
        lx = (0.5 + 0.4 * math.sin(2 * math.pi * t / 9 + self.light_path[0])) * self.width
        ly = (0.45 + 0.3 * math.sin(2 * math.pi * t / 11 + self.light_path[1])) * self.height
        light = self.light
        light.paste(frame, round(lx - light.width / 2), round(ly - light.height / 2), weight)
        for mote in self.motes:
            mx, my = mote.position(t)
            mote.overlay.paste(frame, round(mx), round(my), weight)
        self.caption.paste(frame, *self.caption_xy, weight)
        return np.asarray(frame)
