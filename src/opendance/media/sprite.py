"""Sprite sheets: a grid of small stills evenly spaced through a video, in one JPEG, for scrubbing
previews (the OpenAI door's ``variant=spritesheet``, the dashboard's hover previews).

The layout is fixed, so a client needs no metadata to use a sheet: :data:`TILES` tiles in rows
of :data:`COLUMNS`, read left to right and top to bottom; tile ``i`` shows the frame at
``i / TILES`` of the video (the first tile is the first frame); every tile is
:data:`TILE_WIDTH` px wide and as high as the video's aspect ratio makes it (1280x720: 160x90,
a sheet of 800x450). A video of fewer frames than tiles has one tile per frame.

Like the poster, the sheet is made while the frames pass through the encoder (a
:class:`SpriteTap`): each chosen frame is scaled down as it passes, so memory holds 25 small
tiles and nothing is decoded again.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Final

import numpy as np
from PIL import Image

from opendance.media.poster import JPEG_QUALITY

if TYPE_CHECKING:
    import numpy.typing as npt

COLUMNS: Final = 5
TILES: Final = 25
TILE_WIDTH: Final = 160


def tile_count(frame_count: int) -> int:
    return max(1, min(TILES, frame_count))


def tile_frames(frame_count: int) -> list[int]:
    """The index of the frame each tile shows: evenly spaced, starting with the first."""
    tiles = tile_count(frame_count)
    return [i * frame_count // tiles for i in range(tiles)]


def tile_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of one tile of a ``width x height`` video: the aspect ratio kept."""
    tile_width = min(TILE_WIDTH, width)
    return tile_width, max(1, round(tile_width * height / width))


def sheet_size(width: int, height: int, frame_count: int) -> tuple[int, int]:
    """(width, height) of the sheet of a ``width x height`` video of ``frame_count`` frames."""
    tiles = tile_count(frame_count)
    tile_width, tile_height = tile_size(width, height)
    columns = min(COLUMNS, tiles)
    return columns * tile_width, math.ceil(tiles / columns) * tile_height


class SpriteTap:
    """Scales the frames a sprite sheet shows as they pass; ``jpeg()`` lays out the sheet.

    ``size`` is the (width, height) of the video as delivered: the tiles have its aspect ratio,
    whatever the size of the frames passing (the encoder may scale them).
    """

    def __init__(self, frame_count: int, size: tuple[int, int]) -> None:
        self.frame_count = frame_count
        self.size = size
        self.tile = tile_size(*size)
        self._wanted = {index: slot for slot, index in enumerate(tile_frames(frame_count))}
        self._tiles: dict[int, Image.Image] = {}

    def wants(self, index: int) -> bool:
        return index in self._wanted

    def take(self, index: int, frame: npt.NDArray[np.uint8]) -> None:
        slot = self._wanted.get(index)
        if slot is None:
            return
        # reducing_gap: a cheap box reduction first, then a bicubic pass over a small image
        # (a 720p frame becomes a tile in about 2 ms on the engine's thread)
        image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
        self._tiles[slot] = image.resize(self.tile, Image.Resampling.BICUBIC, reducing_gap=2.0)

    def jpeg(self, *, quality: int = JPEG_QUALITY) -> bytes:
        """The sheet; raises ``RuntimeError`` if a frame it shows has not passed yet.
        Deterministic: the same frames give the same bytes."""
        missing = len(self._wanted) - len(self._tiles)
        if missing:
            raise RuntimeError(f"{missing} frame(s) of the sprite sheet have not been encoded yet")
        sheet = Image.new("RGB", sheet_size(*self.size, self.frame_count))
        tile_width, tile_height = self.tile
        for slot, tile in self._tiles.items():
            row, column = divmod(slot, COLUMNS)
            sheet.paste(tile, (column * tile_width, row * tile_height))
        out = io.BytesIO()
        sheet.save(out, format="JPEG", quality=quality, optimize=True)
        return out.getvalue()
