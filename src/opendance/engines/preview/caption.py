"""The caption: the prompt, wrapped to fit, under a header with the seed, on a translucent box."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

from PIL import Image, ImageDraw, ImageFont

from opendance.engines.preview.overlay import Overlay

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec

_Font: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont


def caption(spec: GenerationSpec) -> tuple[Overlay, tuple[int, int]]:
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
    return Overlay(box), ((width - box_w) // 2, height - margin - box_h)


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
