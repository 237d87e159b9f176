"""Input images: decoding untrusted bytes safely and fitting them to the video frame.

The format is decided by the bytes (magic numbers), never by a file name or a Content-Type the
client controls, and only that format's Pillow plugin is instantiated, so the long tail of
Pillow decoders is never exposed to user data. Dimensions are read from the header and checked
before any pixel is decoded: 6000 px a side bounds memory at about 100 MB of RGB, whatever the
file claims to compress to. (Going through the plugin class rather than ``Image.open`` also
skips Pillow's global decompression-bomb limit, which only warns below 179 Mpx and could only
be tuned process-wide; our own limit is stricter and local.)
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from opendance.errors import OpendanceError
from opendance.net.limits import MAX_IMAGE_BYTES, format_size

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_SIDE = 6000
"""The contract's limit: at most 6000 px a side."""

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

_DECODERS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_GREY = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
# Formats people send that we do not accept, so the error can say what the file looks like.
_OTHER_SIGNATURES = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)


class ImageRejected(OpendanceError):
    """The bytes are not an acceptable image; the message says why, for the task's error."""


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name of ``data`` if it is a JPEG, PNG or WebP, from its magic bytes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(
    data: bytes,
    *,
    max_side: int = MAX_SIDE,
    max_bytes: int = MAX_IMAGE_BYTES,
    background: tuple[int, int, int] = WHITE,
) -> Image.Image:
    """Decode a JPEG, PNG or WebP into an upright RGB image.

    EXIF orientation is applied (phones store portraits sideways). Transparent pixels are
    composited onto ``background``: a video frame has no alpha, and white keeps dark logos and
    text on transparent backgrounds readable. Animated images yield their first frame.
    Raises ``ImageRejected`` for anything else: other formats, too many bytes or pixels,
    corrupt or truncated data.
    """
    if not data:
        raise ImageRejected("the image is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"the image is larger than {format_size(max_bytes)}")
    image_format = sniff_format(data)
    if image_format is None:
        raise ImageRejected(_not_an_image_message(data))
    try:
        image = _DECODERS[image_format](io.BytesIO(data))
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ImageRejected(f"the image is not a readable {_display(image_format)}") from None
    with image:
        width, height = image.size
        if width > max_side or height > max_side:
            raise ImageRejected(
                f"the image is {width}x{height} px; at most {max_side} px a side is accepted"
            )
        if width < 1 or height < 1:
            raise ImageRejected("the image has no pixels")
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, EOFError):
            raise ImageRejected(
                f"the {_display(image_format)} data is corrupt or truncated"
            ) from None
        return _to_rgb(upright, background)


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_GREY:
        # Pillow will not convert 16-bit greyscale to RGB without clipping; keep the high byte.
        grey = np.asarray(image).astype(np.uint32) >> 8
        image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))  # 2-D uint8: mode L
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def cover_crop(image: Image.Image, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Scale ``image`` to cover ``width`` x ``height`` and centre-crop it: shape (height, width, 3).

    The crop box is computed in source coordinates and handed to one Lanczos resize, so the
    output is exactly the requested size without an intermediate image or rounding drift.
    """
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    src_width, src_height = rgb.size
    if src_width * height > src_height * width:  # wider than the frame: trim the sides
        box_width, box_height = src_height * width / height, float(src_height)
    else:  # taller than the frame: trim top and bottom
        box_width, box_height = float(src_width), src_width * height / width
    left = (src_width - box_width) / 2
    top = (src_height - box_height) / 2
    frame = rgb.resize(
        (width, height),
        Image.Resampling.LANCZOS,
        box=(left, top, left + box_width, top + box_height),
        reducing_gap=3.0,
    )
    return np.array(frame, dtype=np.uint8)


def _display(image_format: str) -> str:
    return {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}[image_format]


def _not_an_image_message(data: bytes) -> str:
    base = "the data is not a JPEG, PNG or WebP image"
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return f"{base} (it looks like {name})"
    if data[4:8] == b"ftyp":
        return f"{base} (it looks like HEIC/AVIF or a video)"
    if data.lstrip()[:1] == b"<":
        return f"{base} (it looks like HTML, XML or SVG)"
    return base
