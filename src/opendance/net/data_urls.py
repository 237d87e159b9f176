"""``data:image/...;base64,`` URLs: the image travels inside the request, no fetch needed.

Parsing is strict on purpose: only the three image types the decoder accepts, only base64,
only the standard alphabet with correct padding. The declared type is advisory; the decoder
identifies the image by its bytes. The decoded size is computed from the length before any
decoding, so a 200 MB string is refused without allocating 150 MB.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from opendance.net.errors import UrlRejected
from opendance.net.limits import MAX_IMAGE_BYTES, format_size

# ``b64decode(validate=True)`` still tolerates surplus padding ("AAAA===="); this does not.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_MEDIA_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",  # not registered, but common in the wild
    "image/png": "image/png",
    "image/webp": "image/webp",
}


@dataclass(frozen=True, slots=True)
class DataImage:
    """The decoded payload of a data URL and its declared (normalised) media type."""

    mime: str
    data: bytes


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def parse_data_image_url(
    url: str, *, subject: str = "url", max_bytes: int = MAX_IMAGE_BYTES
) -> DataImage:
    """Decode ``data:image/(jpeg|png|webp)[;param=value]*;base64,<data>``.

    Raises ``UrlRejected`` naming ``subject`` when the URL is malformed, of another type, not
    base64, or larger than ``max_bytes`` once decoded.
    """
    return check_data_image_url(url, subject=subject, max_bytes=max_bytes).decode()


@dataclass(frozen=True, slots=True)
class CheckedDataUrl:
    """A data URL whose header and size passed; its payload not yet looked at."""

    mime: str
    payload: str
    subject: str

    def decode(self) -> DataImage:
        """The image bytes (the costly part: a pass over the payload and a copy of it)."""
        if not _BASE64.fullmatch(self.payload):
            raise UrlRejected(self.subject, _NOT_BASE64)
        try:
            data = base64.b64decode(self.payload, validate=True)
        except binascii.Error:
            raise UrlRejected(self.subject, _NOT_BASE64) from None
        return DataImage(mime=self.mime, data=data)


_NOT_BASE64 = "is not valid base64 (standard alphabet, padded with =)"


def check_data_image_url(
    url: str, *, subject: str = "url", max_bytes: int = MAX_IMAGE_BYTES
) -> CheckedDataUrl:
    """Everything ``parse_data_image_url`` checks but the base64 itself, without reading the
    payload: a caller can refuse the request for other reasons before paying for that."""
    if not is_data_url(url):
        raise UrlRejected(subject, "must be a data:image/...;base64, URL")
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise UrlRejected(subject, "is missing the ',' that separates the header from the data")
    params = header.split(";")
    media_type = params[0].lower()
    if media_type not in _MEDIA_TYPES:
        raise UrlRejected(subject, "must be a data URL of type image/jpeg, image/png or image/webp")
    if len(params) < 2 or params[-1].lower() != "base64":
        raise UrlRejected(subject, "must be base64-encoded (data:image/png;base64,...)")
    if any(_malformed_param(param) for param in params[1:-1]):
        raise UrlRejected(subject, "has a malformed media type parameter")
    if not payload:
        raise UrlRejected(subject, "contains no image data")
    if len(payload) % 4:
        raise UrlRejected(subject, _NOT_BASE64)
    decoded_size = len(payload) // 4 * 3 - payload[-2:].count("=")
    if decoded_size > max_bytes:
        raise UrlRejected(subject, f"holds more than {format_size(max_bytes)} of image data")
    return CheckedDataUrl(mime=_MEDIA_TYPES[media_type], payload=payload, subject=subject)


def _malformed_param(param: str) -> bool:
    name, eq, value = param.partition("=")
    return not (eq and name and value) or any(c.isspace() or not c.isprintable() for c in param)
