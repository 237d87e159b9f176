"""The CPU preview engine: a deterministic stand-in for a video model, for development and tests.

This is **not** a generative model and does not pretend to be one. It exists so that the whole
service (API, billing, queue, worker, encoder, storage, webhooks) runs end to end on a laptop or in
CI in seconds, and so that every option of the API has a visible, checkable effect:

* the prompt and seed are hashed; the hash picks the palette, the landscape, the shapes and their
  motion, the camera move and the music: different prompts give visibly different videos, and the
  same spec always gives identical frames and audio;
* the prompt is shown as a caption (with the seed), so a video is easy to match to its request;
* ``fixed_lens`` keeps the camera still and only the shapes move; otherwise the camera pans,
  pushes in, pulls out or drifts;
* image-to-video: frame 0 is exactly ``spec.first_frame``; then a slow Ken Burns move (none with
  ``fixed_lens``), a wandering light and floating motes animate it, fading in from frame 0;
* ``generate_audio`` adds a synthesized chord progression with bass and arpeggio, exactly as long
  as the video.

Cost: everything expensive (the world image, every rotation of every shape, the caption, the
soundtrack) is prepared once in ``generate``. A frame is then one nearest-neighbour affine view of
a twice-resolution source (sub-pixel camera moves without per-frame filtering) plus a few masked
pastes, all in Pillow's C code, which is far below what encoding the frame with H.264 costs.
Frames are yielded lazily, so a 12 s 720p video is never held in memory.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from opendance.engines.base import (
    AudioTrack,
    EngineCapabilities,
    EngineError,
    GenerationResult,
    ProgressCallback,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

    Frame: TypeAlias = npt.NDArray[np.uint8]
    Samples: TypeAlias = npt.NDArray[np.float32]

RGB: TypeAlias = tuple[int, int, int]
_Font: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont

SAMPLE_RATE: Final = 48_000
WORLD_MARGIN: Final = 0.15
"""The text-to-video world extends this fraction of the frame beyond each edge: camera room."""
FADE_IN_FRAMES: Final = 12
"""Image-to-video overlays fade in over this many frames, so frame 0 is the untouched image."""


class PreviewEngine:
    """Renders a deterministic, prompt-dependent preview video on the CPU (see module docstring)."""

    name = "preview"
    capabilities = EngineCapabilities(audio=True, image_to_video=True)

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        """Prepare the scene and soundtrack now; frames are rendered as the caller iterates.

        ``on_progress`` gets 0.0 before the first frame and ``(i + 1) / frame_count`` after
        frame ``i``, on the thread that iterates the frames.
        """
        first = spec.first_frame
        if first is not None and (
            first.dtype != np.uint8 or first.shape != (spec.height, spec.width, 3)
        ):
            raise EngineError(
                f"first frame is {first.dtype} {first.shape}, "
                f"expected uint8 ({spec.height}, {spec.width}, 3)"
            )
        scene: _Scene = _ImageScene(spec, first) if first is not None else _TextScene(spec)
        audio = soundtrack(spec) if spec.generate_audio else None
        return GenerationResult(
            frames=_render_all(scene, spec.frame_count, on_progress),
            frame_count=spec.frame_count,
            audio=audio,
        )


def _render_all(scene: _Scene, count: int, on_progress: ProgressCallback) -> Iterator[Frame]:
    on_progress(0.0)
    for index in range(count):
        frame = scene.render(index)
        on_progress((index + 1) / count)
        yield frame


def _rng(spec: GenerationSpec, purpose: str) -> np.random.Generator:
    """Seeded from (purpose, seed, prompt) only: the same spec draws the same numbers."""
    digest = hashlib.sha256(f"{purpose}\x00{spec.seed}\x00{spec.prompt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _ease(u: float) -> float:
    return u * u * (3 - 2 * u)


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class _Palette:
    sky_top: RGB
    sky_bottom: RGB
    glow: RGB
    hills: tuple[RGB, ...]
    accents: tuple[RGB, ...]
    night: bool

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Palette:
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


class _Overlay:
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


class _Scene:
    """Pre-rendered parts of one video; ``render`` composes frame ``index`` from them."""

    def __init__(self, spec: GenerationSpec) -> None:
        self.width, self.height, self.fps = spec.width, spec.height, spec.fps
        self.frame_count = spec.frame_count
        self.caption, self.caption_xy = _caption(spec)

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


class _TextScene(_Scene):
    """Text-to-video: a hashed landscape seen through a moving camera, with shapes moving in it."""

    def __init__(self, spec: GenerationSpec) -> None:
        super().__init__(spec)
        rng = _rng(spec, "scene")
        palette = _Palette.draw(rng)
        self.world_w = round(self.width * (1 + 2 * WORLD_MARGIN))
        self.world_h = round(self.height * (1 + 2 * WORLD_MARGIN))
        world = _landscape(rng, palette, self.world_w, self.world_h)
        cameras = ["pan", "push", "pull", "drift"]
        self.camera = "still" if spec.fixed_lens else str(rng.choice(cameras))
        self.direction = float(rng.choice([-1.0, 1.0]))
        self.sway = rng.uniform(0, 2 * math.pi, size=3)
        self.shapes = [_Shape.draw(rng, palette, min(self.width, self.height)) for _ in range(4)]
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


class _ImageScene(_Scene):
    """Image-to-video: the first frame, slowly moved (unless fixed), lit and dusted with motes."""

    def __init__(self, spec: GenerationSpec, first: Frame) -> None:
        super().__init__(spec)
        rng = _rng(spec, "scene")
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
        palette = _Palette.draw(rng)
        scale = min(self.width, self.height)
        self.light = _Overlay(_glow(round(scale * 0.5), palette.glow, 0.35))
        self.light_path = rng.uniform(0, 2 * math.pi, size=2)
        self.motes = [_Mote.draw(rng, scale, self.width, self.height) for _ in range(10)]

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


def _landscape(rng: np.random.Generator, palette: _Palette, w: int, h: int) -> Frame:
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


class _Shape:
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
        self._sprites: dict[int, _Overlay] = {}

    @classmethod
    def draw(cls, rng: np.random.Generator, palette: _Palette, scale: int) -> _Shape:
        kind = str(rng.choice(list(_SYMMETRY)))
        size = max(round(scale * float(rng.uniform(0.09, 0.15))), 8)
        color = palette.accents[int(rng.integers(len(palette.accents)))]
        # amplitude x, y (fractions of the frame), frequency x, y (Hz), phase x, y
        path = np.concatenate(
            [rng.uniform(0.1, 0.38, 2), rng.uniform(0.04, 0.14, 2), rng.uniform(0, 2 * math.pi, 2)]
        )
        step = int(rng.choice([-3, -2, 2, 3]))  # frames per rotation step; sign = direction
        return cls(kind, size, color, path, step)

    def sprite(self, index: int) -> _Overlay:
        turn = index // abs(self.step) * (1 if self.step > 0 else -1) % self.turns
        if turn not in self._sprites:
            angle = self.period * turn / self.turns
            self._sprites[turn] = _Overlay(_shape_rgba(self.kind, self.size, self.color, angle))
        return self._sprites[turn]

    def position(
        self, t: float, world_w: int, world_h: int, width: int, height: int
    ) -> tuple[float, float]:
        ax, ay, fx, fy, px, py = self.path
        return (
            world_w / 2 + ax * width * math.sin(2 * math.pi * fx * t + px),
            world_h / 2 + ay * height * math.sin(2 * math.pi * fy * t + py),
        )


def _glow(diameter: int, color: RGB, opacity: float, power: float = 3.0) -> Image.Image:
    """A round soft light of one colour, as RGBA; its alpha falls off like a Gaussian."""
    grid = (np.arange(diameter, dtype=np.float32) - diameter / 2 + 0.5) / (diameter / 2)
    alpha = np.exp(-power * (grid[:, None] ** 2 + grid[None, :] ** 2)) * (255 * opacity)
    rgba = np.empty((diameter, diameter, 4), np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = np.clip(alpha + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgba, mode="RGBA")


class _Mote:
    """A floating speck of light for image-to-video: rises slowly and sways."""

    def __init__(self, overlay: _Overlay, params: npt.NDArray[np.float64], height: int) -> None:
        self.overlay, self.params, self.height = overlay, params, height

    @classmethod
    def draw(cls, rng: np.random.Generator, scale: int, width: int, height: int) -> _Mote:
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
        speck = _glow(diameter, (255, 255, 255), float(rng.uniform(0.4, 0.8)), power=2.5)
        return cls(_Overlay(speck), params, height)

    def position(self, t: float) -> tuple[float, float]:
        x0, y0, speed, sway, freq, phase = self.params
        span = self.height + self.overlay.height
        y = (y0 - speed * t) % span - self.overlay.height
        return x0 + sway * math.sin(2 * math.pi * freq * t + phase), y


def _caption(spec: GenerationSpec) -> tuple[_Overlay, tuple[int, int]]:
    """The prompt, wrapped to at most three lines, on a translucent box at the bottom."""
    width, height = spec.width, spec.height
    size = max(round(min(width, height) / 24), 12)
    small_size = max(round(size * 0.6), 10)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=small_size)
    pad, margin = max(size // 2, 4), max(round(min(width, height) * 0.03), 6)
    lines = _wrap(" ".join(spec.prompt.split()), font, width - 2 * (margin + pad), 3)
    header = f"PREVIEW \u00b7 seed {spec.seed}"
    line_h, head_h = round(size * 1.3), round(small_size * 1.5)
    text_w = max([small.getlength(header), *(font.getlength(line) for line in lines)])
    box_w, box_h = math.ceil(text_w) + 2 * pad, head_h + line_h * len(lines) + 2 * pad
    box = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(box)
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=pad, fill=(0, 0, 0, 150))
    draw.text((pad, pad), header, font=small, fill=(255, 255, 255, 190))
    for i, line in enumerate(lines):
        draw.text((pad, pad + head_h + i * line_h), line, font=font, fill=(255, 255, 255, 255))
    return _Overlay(box), ((width - box_w) // 2, height - margin - box_h)


def _wrap(text: str, font: _Font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; words wider than a line are split; overflow ends in an ellipsis."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if len(lines) > max_lines:
            break
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while font.getlength(word) > max_width:
            cut = _fitting_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        cut = _fitting_prefix(last + "\u2026", font, max_width)
        lines = [*lines[: max_lines - 1], last[: max(cut - 1, 0)].rstrip() + "\u2026"]
    return lines or [""]


def _fitting_prefix(text: str, font: _Font, max_width: int) -> int:
    """Length of the longest prefix of ``text`` that fits (at least 1: always progress)."""
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if font.getlength(text[:mid]) <= max_width else (lo, mid - 1)
    return lo


# --- soundtrack ------------------------------------------------------------------------------

_MODES: Final = (
    (0, 2, 4, 5, 7, 9, 11),  # major
    (0, 2, 3, 5, 7, 8, 10),  # natural minor
    (0, 2, 3, 5, 7, 9, 10),  # dorian
    (0, 2, 4, 5, 7, 9, 10),  # mixolydian
)
_PROGRESSIONS: Final = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 2, 3, 4))
_ARPEGGIOS: Final = ((0, 1, 2, 3, 0, 1, 2, 3), (0, 1, 2, 3, 2, 1, 0, 1), (0, 2, 1, 2, 0, 2, 1, 2))
_TIMBRES: Final = ((1.0, 0.5, 0.33, 0.25, 0.2), (1.0, 0.0, 0.4, 0.0, 0.2), (1.0, 0.2, 0.05))
_TABLE_BITS: Final = 12


def soundtrack(spec: GenerationSpec) -> AudioTrack:
    """A short piece derived from the prompt hash: key, mode, chord progression, tempo, arpeggio
    pattern and timbre. Stereo float32 at 48 kHz, exactly ``frame_count / fps`` seconds long."""
    rng = _rng(spec, "audio")
    mixer = _Mixer(spec.frame_count * SAMPLE_RATE // spec.fps)
    root = 45 + int(rng.integers(12))  # A2 .. G#3
    mode = _MODES[int(rng.integers(len(_MODES)))]
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    pattern = _ARPEGGIOS[int(rng.integers(len(_ARPEGGIOS)))]
    lead = _wavetable(_TIMBRES[int(rng.integers(len(_TIMBRES)))])
    warm, sine = _wavetable((1.0, 0.3, 0.1)), _wavetable((1.0,))
    beat = 60 / float(rng.uniform(84, 124))
    bar = 4 * beat
    for index in range(math.ceil(mixer.seconds / bar)):
        degree = progression[index % len(progression)]
        chord = [mode[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in (0, 2, 4)]
        start = index * bar
        for k, semitone in enumerate(chord):  # pad, spread across the stereo field
            mixer.note(start, bar + 0.3, root + 12 + semitone, warm, 0.07, 0.25, 3.0, (k - 1) / 2)
        mixer.note(start, bar, root - 12 + chord[0], sine, 0.25, 0.01, 1.2, 0.0)  # bass
        tones = [*chord, chord[0] + 12]
        for step, tone in enumerate(pattern):  # eighth-note arpeggio, alternating sides
            pan = 0.45 if step % 2 else -0.45
            mixer.note(
                start + step * beat / 2, 0.6, root + 24 + tones[tone], lead, 0.1, 0.005, 0.22, pan
            )
    return AudioTrack(samples=mixer.master(), sample_rate=SAMPLE_RATE)


def _wavetable(harmonics: tuple[float, ...]) -> Samples:
    """One period of a waveform; notes index it instead of calling ``sin`` per harmonic."""
    phase = np.arange(1 << _TABLE_BITS) / (1 << _TABLE_BITS)
    wave = np.zeros(phase.shape, np.float64)
    for k, weight in enumerate(harmonics):
        wave += weight * np.sin(2 * math.pi * (k + 1) * phase)
    table: Samples = (wave / np.abs(wave).max()).astype(np.float32)
    return table


class _Mixer:
    """A stereo buffer that notes are added to; envelopes are computed once per note shape."""

    def __init__(self, total: int) -> None:
        self.out: Samples = np.zeros((2, total), np.float32)
        self.seconds = total / SAMPLE_RATE
        self._envelopes: dict[tuple[int, float, float], Samples] = {}

    def note(
        self,
        start: float,
        length: float,
        midi: int,
        table: Samples,
        gain: float,
        attack: float,
        decay: float,
        pan: float,
    ) -> None:
        """Mix one note in (clipped at the end): wavetable x envelope, equal-power panning."""
        first = round(start * SAMPLE_RATE)
        count = min(round(length * SAMPLE_RATE), self.out.shape[1] - first)
        if count <= 0:
            return
        freq = 440.0 * 2 ** ((midi - 69) / 12)
        step = round(freq * (1 << _TABLE_BITS) / SAMPLE_RATE * (1 << 16))  # 16.16 fixed point
        index = (np.arange(count, dtype=np.int64) * step >> 16) & ((1 << _TABLE_BITS) - 1)
        signal = table[index] * self._envelope(count, attack, decay) * np.float32(gain)
        angle = (pan + 1) * math.pi / 4
        self.out[0, first : first + count] += signal * np.float32(math.cos(angle))
        self.out[1, first : first + count] += signal * np.float32(math.sin(angle))

    def _envelope(self, count: int, attack: float, decay: float) -> Samples:
        """Linear attack, exponential decay, and a 50 ms release so no note ends in a click."""
        key = (count, attack, decay)
        if key not in self._envelopes:
            t = np.arange(count, dtype=np.float32) / SAMPLE_RATE
            release = np.minimum((count - np.arange(count)) / (0.05 * SAMPLE_RATE), 1.0)
            envelope = np.minimum(t / attack, 1.0) * np.exp(-t / decay) * release
            self._envelopes[key] = envelope.astype(np.float32)
        return self._envelopes[key]

    def master(self) -> Samples:
        """Normalised to a peak of 0.8, faded in over 20 ms and out over a third of a second."""
        out, total = self.out, self.out.shape[1]
        out *= np.float32(0.8 / max(float(np.abs(out).max()), 1e-6))
        fade_in, fade_out = min(SAMPLE_RATE // 50, total), min(SAMPLE_RATE // 3, total)
        out[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
        out[:, total - fade_out :] *= np.linspace(1, 0, fade_out, dtype=np.float32)
        return out
