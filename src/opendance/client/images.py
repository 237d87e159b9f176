"""Turning a local image into something ``image_urls`` accepts."""

from __future__ import annotations

import base64
from pathlib import Path

# The formats the contract accepts, by their first bytes: the file name may say nothing.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def image_url(path_or_url: str | Path) -> str:
    """An ``http(s)://`` or ``data:`` URL as it is; a local JPEG, PNG or WebP file as a
    ``data:image/...;base64,`` URL (sent inline, so the server needs no access to the file)."""
    text = str(path_or_url)
    if isinstance(path_or_url, str) and (is_url(text) or text.startswith("data:")):
        return text
    data = Path(path_or_url).read_bytes()
    return f"data:{image_media_type(data)};base64,{base64.b64encode(data).decode('ascii')}"


def image_media_type(data: bytes) -> str:
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("the image is not a JPEG, PNG or WebP file")
