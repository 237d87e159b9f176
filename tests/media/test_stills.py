"""Poster, sprite sheet and last frame, made as frames pass through the encoder or from an MP4;
checked against the frames themselves and against what PyAV decodes from the video."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from opendance.media import sprite
from opendance.media.last_frame import LastFrameTap
from opendance.media.scale import scale_rgb
from opendance.media.sprite import SpriteTap, sheet_size, tile_frames, tile_size
from opendance.media.stills import StillsTap, stills_from_mp4
from tests.media.test_encode import H, N, W, decode_rgb, encode, moving_frames
from tests.support.media import psnr


def image_rgb(data: bytes, image_format: str) -> npt.NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == image_format
        return np.asarray(image.convert("RGB"))


def tiles_of(sheet: npt.NDArray[np.uint8], size: tuple[int, int]) -> list[npt.NDArray[np.uint8]]:
    width, height = size
    rows, columns = sheet.shape[0] // height, sheet.shape[1] // width
    return [
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width]
        for r in range(rows)
        for c in range(columns)
    ]


def test_sprite_tiles_are_evenly_spaced_from_the_first_frame() -> None:
    assert tile_frames(96) == [i * 96 // 25 for i in range(25)]
    assert tile_frames(96)[:4] == [0, 3, 7, 11] and tile_frames(288)[-1] == 276
    assert tile_frames(10) == list(range(10))  # fewer frames than tiles: one tile each


def test_sprite_tiles_keep_the_video_aspect_ratio() -> None:
    assert tile_size(1280, 720) == (160, 90)
    assert sheet_size(1280, 720, 96) == (800, 450)
    assert tile_size(704, 1248) == (160, 284)
    assert sheet_size(640, 640, 288) == (800, 800)
    assert sheet_size(1280, 720, 7) == (800, 180)  # 7 tiles: a full row and two more
    assert tile_size(100, 60) == (100, 60)  # never scaled up


def test_the_stills_tap_sees_frames_through_the_encoder(tmp_path: Path) -> None:
    tap = StillsTap(N, (W, H))
    encode(tmp_path / "v.mp4", frames=tap.wrap(moving_frames()))
    stills = tap.stills()
    source = list(moving_frames())
    last = image_rgb(stills.last_frame, "PNG")
    assert np.array_equal(last, source[-1])  # lossless, the very frame
    sheet = image_rgb(stills.sprite, "JPEG")
    assert sheet.shape == (5 * 96, 5 * 160, 3)  # 320x192 video: tiles of 160x96
    for tile, index in zip(tiles_of(sheet, (160, 96)), tile_frames(N), strict=True):
        expected = np.asarray(Image.fromarray(source[index]).resize((160, 96)))
        assert psnr(tile, expected) > 30
    assert image_rgb(stills.poster, "JPEG").shape == (H, W, 3)


def test_stills_of_a_scaled_video_are_of_the_delivered_size(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    tap = StillsTap(N, (352, 200))
    encode(out, frames=tap.wrap(moving_frames()), output_size=(352, 200))
    stills = tap.stills()
    last = image_rgb(stills.last_frame, "PNG")
    assert last.shape == (200, 352, 3)
    assert psnr(last, decode_rgb(out)[-1]) > 35  # what a player shows at the end
    assert image_rgb(stills.poster, "JPEG").shape == (200, 352, 3)
    assert image_rgb(stills.sprite, "JPEG").shape == (5 * 91, 5 * 160, 3)


def test_stills_from_an_mp4_match_the_ones_made_while_encoding(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    tap = StillsTap(N, (W, H))
    encode(out, frames=tap.wrap(moving_frames()))
    made, decoded = tap.stills(), stills_from_mp4(out, N)
    last = image_rgb(decoded.last_frame, "PNG")
    assert psnr(last, decode_rgb(out)[-1]) > 50  # the decoded last frame itself
    assert psnr(last, image_rgb(made.last_frame, "PNG")) > 35
    for name in ("sprite", "poster"):
        assert (
            psnr(image_rgb(getattr(decoded, name), "JPEG"), image_rgb(getattr(made, name), "JPEG"))
            > 30
        )


def test_only_the_frames_shown_are_kept_and_reused_buffers_are_copied() -> None:
    def one_buffer() -> Iterator[npt.NDArray[np.uint8]]:
        buffer = np.zeros((H, W, 3), np.uint8)
        for index in range(N):  # an engine that draws every frame into the same array
            buffer[:] = index
            yield buffer

    tap = StillsTap(N, (W, H))
    assert sum(1 for index in range(N) if tap.wants(index)) == 27  # 25 tiles, poster, last
    for _ in tap.wrap(one_buffer()):
        pass
    assert tap.last_frame.frame is not None and int(tap.last_frame.frame.max()) == N - 1
    assert tap.poster.frame is not None and int(tap.poster.frame.max()) == N // 3
    assert int(image_rgb(tap.stills().last_frame, "PNG").max()) == N - 1


def test_the_images_are_deterministic(tmp_path: Path) -> None:
    made = []
    for _ in range(2):
        tap = StillsTap(N, (352, 200))
        for _frame in tap.wrap(moving_frames()):
            pass
        made.append(tap.stills())
    assert made[0] == made[1]


def test_taps_refuse_before_their_frames_passed() -> None:
    frames = moving_frames()
    sprite_tap, last = SpriteTap(N, (W, H)), LastFrameTap(N, (W, H))
    for index, frame in zip(range(N - 1), frames, strict=False):
        sprite_tap.take(index, frame)
        last.take(index, frame)
    assert sprite_tap.jpeg()[:3] == b"\xff\xd8\xff"  # every tile passed
    with pytest.raises(RuntimeError, match="last frame"):
        last.png()
    with pytest.raises(RuntimeError, match="sprite sheet"):
        SpriteTap(N, (W, H)).jpeg()


def test_last_frame_png_is_scaled_like_the_encoder_scales() -> None:
    frame = next(moving_frames())
    tap = LastFrameTap(1, (352, 200))
    tap.take(0, frame)
    assert np.array_equal(image_rgb(tap.png(), "PNG"), scale_rgb(frame, 352, 200))
    assert sprite.TILES == 25 and sprite.COLUMNS == 5
