"""decode_image and cover_crop on real encoded images."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from opendance.domain.presets import FRAME_SIZES
from opendance.media.images import BLACK, ImageRejected, cover_crop, decode_image, sniff_format

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` but carries no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def stripes(
    size: tuple[int, int], colors: list[tuple[int, int, int]], *, vertical: bool
) -> Image.Image:
    """Equal bands of ``colors``, left to right (``vertical``) or top to bottom."""
    width, height = size
    image = Image.new("RGB", size)
    for index, color in enumerate(colors):
        if vertical:
            box = (index * width // len(colors), 0, (index + 1) * width // len(colors), height)
        else:
            box = (0, index * height // len(colors), width, (index + 1) * height // len(colors))
        image.paste(color, box)
    return image


# --- decode_image: what is accepted ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"), [("PNG", {}), ("JPEG", {"quality": 95}), ("WEBP", {"lossless": True})]
)
def test_jpeg_png_and_webp_decode_to_rgb(fmt: str, options: dict[str, object]) -> None:
    data = encode(Image.new("RGB", (64, 48), (200, 100, 50)), fmt, **options)
    image = decode_image(data)
    assert (image.mode, image.size) == ("RGB", (64, 48))
    assert np.abs(np.asarray(image).astype(int) - (200, 100, 50)).max() <= 3


def test_format_is_recognised_by_content_not_by_name() -> None:
    assert sniff_format(encode(Image.new("RGB", (4, 4)), "WEBP")) == "WEBP"
    assert sniff_format(encode(Image.new("RGB", (4, 4)), "JPEG")) == "JPEG"
    assert sniff_format(encode(Image.new("RGB", (4, 4)), "PNG")) == "PNG"
    assert sniff_format(encode(Image.new("RGB", (4, 4)), "GIF")) is None


def test_exif_orientation_is_applied() -> None:
    """Stored 40x20 with a red left half; orientation 6 means "rotate 90° clockwise"."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stripes((40, 20), [RED, BLUE], vertical=True), "JPEG", exif=exif, quality=95)
    pixels = np.asarray(decode_image(data))
    assert pixels.shape == (40, 20, 3)
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 60  # top is red
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 60  # bottom is blue


@pytest.mark.parametrize(("background", "expected"), [(None, 255), (BLACK, 0)])
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_transparency_is_composited_onto_the_background(
    fmt: str, background: tuple[int, int, int] | None, expected: int
) -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 4, 8))
    data = encode(image, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    decoded = (
        decode_image(data) if background is None else decode_image(data, background=background)
    )
    pixels = np.asarray(decoded)
    assert tuple(pixels[4, 1]) == RED
    assert tuple(pixels[4, 6]) == (expected, expected, expected)


def test_palette_transparency_and_grey_alpha_are_composited() -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(0, (0, 0, 2, 4))
    data = encode(palette, "PNG", transparency=0)
    assert [tuple(p) for p in np.asarray(decode_image(data))[0]] == [(255, 255, 255)] * 2 + [
        RED
    ] * 2

    grey_alpha = Image.new("LA", (4, 4), (100, 0))
    assert tuple(np.asarray(decode_image(encode(grey_alpha, "PNG")))[0, 0]) == (255, 255, 255)


def test_sixteen_bit_greyscale_keeps_its_brightness() -> None:
    array = np.full((6, 6), 65535, dtype=np.uint16)
    array[:, :3] = 32768
    data = encode(Image.fromarray(array), "PNG")
    pixels = np.asarray(decode_image(data))
    assert tuple(pixels[0, 0]) == (128, 128, 128)
    assert tuple(pixels[0, 5]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "CMYK", "1"])
def test_other_colour_modes_become_rgb(mode: str) -> None:
    fmt = "PNG" if mode == "1" else "JPEG"
    image = decode_image(encode(Image.new(mode, (16, 16)), fmt))
    assert (image.mode, image.size) == ("RGB", (16, 16))


def test_an_animated_image_yields_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert tuple(np.asarray(decode_image(data))[0, 0]) == RED


def test_6000_px_a_side_is_accepted() -> None:
    assert decode_image(encode(Image.new("RGB", (6000, 2)), "PNG")).size == (6000, 2)


# --- decode_image: what is refused ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the image is empty"),
        (
            encode(Image.new("RGB", (4, 4)), "GIF"),
            "not a JPEG, PNG or WebP image (it looks like GIF)",
        ),
        (encode(Image.new("RGB", (4, 4)), "BMP"), "(it looks like BMP)"),
        (encode(Image.new("RGB", (4, 4)), "TIFF"), "(it looks like TIFF)"),
        (b"<!doctype html><html>nope</html>", "(it looks like HTML, XML or SVG)"),
        (b'  <svg xmlns="http://www.w3.org/2000/svg"/>', "(it looks like HTML, XML or SVG)"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "(it looks like HEIC/AVIF or a video)"),
        (b"%PDF-1.7", "(it looks like PDF)"),
        (b"just some text", "the data is not a JPEG, PNG or WebP image"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "the image is not a readable PNG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 junk", "the image is not a readable WebP"),
    ],
)
def test_non_images_and_other_formats_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data)
    assert reason in str(caught.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_rejected(fmt: str) -> None:
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageRejected, match=r"corrupt or truncated|not a readable"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("fmt", "size"), [("PNG", (7000, 10)), ("PNG", (10, 7000)), ("JPEG", (6001, 8))]
)
def test_images_over_6000_px_a_side_are_rejected(fmt: str, size: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", size), fmt)
    with pytest.raises(ImageRejected) as caught:
        decode_image(data)
    width, height = size
    assert (
        str(caught.value) == f"the image is {width}x{height} px; at most 6000 px a side is accepted"
    )


@pytest.mark.parametrize(
    "size", [(7000, 10), (10_000, 10_000), (20_000, 20_000), (100_000, 100_000)]
)
def test_claimed_dimensions_are_rejected_before_any_pixel_is_decoded(size: tuple[int, int]) -> None:
    """A 57-byte file claiming 10 gigapixels must be refused from its header, at once, and
    without Pillow's DecompressionBombWarning (pytest turns it into an error here)."""
    data = png_header_only(*size)
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageRejected) as caught:
            decode_image(data)
    assert str(caught.value) == (
        f"the image is {size[0]}x{size[1]} px; at most 6000 px a side is accepted"
    )
    assert time.monotonic() - started < 0.5


def test_the_byte_limit_is_checked_first() -> None:
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ImageRejected, match=f"larger than {len(data) - 1} bytes"):
        decode_image(data, max_bytes=len(data) - 1)
    assert decode_image(data, max_bytes=len(data)).size == (64, 64)


def test_max_side_can_be_lowered() -> None:
    with pytest.raises(ImageRejected, match="at most 32 px a side"):
        decode_image(encode(Image.new("RGB", (33, 8)), "PNG"), max_side=32)


# --- cover_crop -----------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), sorted(set(FRAME_SIZES.values())))
@pytest.mark.parametrize("source", [(640, 480), (480, 640), (1000, 1000), (3000, 400), (37, 901)])
def test_cover_crop_returns_exactly_the_frame_size(
    source: tuple[int, int], width: int, height: int
) -> None:
    frame = cover_crop(Image.new("RGB", source, (10, 20, 30)), width, height)
    assert frame.shape == (height, width, 3)
    assert frame.dtype == np.uint8
    assert frame.flags.c_contiguous and frame.flags.writeable
    assert (frame == (10, 20, 30)).all()


def test_a_wide_image_keeps_its_middle_third_in_a_square_frame() -> None:
    frame = cover_crop(stripes((300, 100), [RED, GREEN, BLUE], vertical=True), 100, 100)
    inner = frame[:, 3:-3].astype(int)
    assert (inner[..., 1] > 240).all() and (inner[..., 0] < 15).all() and (inner[..., 2] < 15).all()


def test_a_tall_image_keeps_its_middle_band_in_a_wide_frame() -> None:
    # 100x900 in three bands; a 16:9 crop of it is 100x56 from the middle of the green band.
    frame = cover_crop(stripes((100, 900), [RED, GREEN, BLUE], vertical=False), 864, 480)
    assert frame.shape == (480, 864, 3)
    assert (frame[..., 1] > 240).all() and (frame[..., 0] < 15).all()


def test_the_crop_is_centred() -> None:
    """A 16:9 crop of a 4:3 image trims equal bands from top and bottom."""
    source = stripes((400, 300), [RED, GREEN, GREEN, GREEN, GREEN, GREEN, BLUE], vertical=False)
    frame = cover_crop(source, 160, 90)
    row_is_green = np.asarray((frame[..., 1] > 200).all(axis=1))
    # The red and blue bands are 1/7 of the height each; the crop trims 1/8 at each end,
    # so what survives of them is equally thin at the top and at the bottom.
    top = int(np.argmax(row_is_green))
    bottom = int(np.argmax(row_is_green[::-1]))
    assert abs(top - bottom) <= 1
    assert 0 < top < 6


def test_same_aspect_is_a_plain_resize_and_upscaling_works() -> None:
    quadrants = stripes((20, 10), [RED, BLUE], vertical=True)
    frame = cover_crop(quadrants, 640, 320)
    assert tuple(frame[160, 100]) == RED
    assert tuple(frame[160, 540]) == BLUE


def test_cover_crop_accepts_non_rgb_images_and_refuses_empty_frames() -> None:
    assert cover_crop(Image.new("L", (50, 50), 128), 32, 64).shape == (64, 32, 3)
    with pytest.raises(ValueError, match="positive"):
        cover_crop(Image.new("RGB", (10, 10)), 0, 10)
