"""parse_data_image_url: inline images, strictly."""

from __future__ import annotations

import base64

import pytest

from opendance.net import DataImage, UrlRejected, parse_data_image_url
from tests.net.servers import image_bytes

PNG = image_bytes("PNG")
B64 = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    ("url", "mime"),
    [
        (f"data:image/png;base64,{B64}", "image/png"),
        (f"DATA:IMAGE/PNG;BASE64,{B64}", "image/png"),
        (f"data:image/jpeg;base64,{B64}", "image/jpeg"),
        (f"data:image/jpg;base64,{B64}", "image/jpeg"),
        (f"data:image/webp;base64,{B64}", "image/webp"),
        (f"data:image/png;name=cat.png;base64,{B64}", "image/png"),
        (f"data:image/png;charset=binary;name=a;base64,{B64}", "image/png"),
    ],
)
def test_data_urls_decode_to_bytes_and_a_normalised_type(url: str, mime: str) -> None:
    assert parse_data_image_url(url) == DataImage(mime=mime, data=PNG)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/a.png", "must be a data:image/...;base64, URL"),
        ("data:image/png;base64", "is missing the ','"),
        (f"data:image/gif;base64,{B64}", "must be a data URL of type image/jpeg, image/png or"),
        (f"data:image/svg+xml;base64,{B64}", "must be a data URL of type"),
        (f"data:text/html;base64,{B64}", "must be a data URL of type"),
        (f"data:;base64,{B64}", "must be a data URL of type"),
        (f"data:image/png,{B64}", "must be base64-encoded"),
        (f"data:image/png;utf8,{B64}", "must be base64-encoded"),
        (f"data:image/png;name;base64,{B64}", "malformed media type parameter"),
        (f"data:image/png;na me=x;base64,{B64}", "malformed media type parameter"),
        ("data:image/png;base64,", "contains no image data"),
        ("data:image/png;base64,iVBORw0KGgo", "is not valid base64"),  # missing padding
        ("data:image/png;base64,iVBO Rw0K", "is not valid base64"),
        ("data:image/png;base64,iVBO\nRw0K", "is not valid base64"),
        ("data:image/png;base64,iVBO-w0_", "is not valid base64"),  # URL-safe alphabet
        ("data:image/png;base64,iVBO%2B0K", "is not valid base64"),
        ("data:image/png;base64,iVBORw0KGgoé", "is not valid base64"),
        ("data:image/png;base64,iVBO====", "is not valid base64"),
    ],
)
def test_bad_data_urls_are_rejected_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRejected) as caught:
        parse_data_image_url(url, subject="image_urls[0]")
    assert str(caught.value).startswith("image_urls[0] ")
    assert reason in str(caught.value)


def test_the_size_limit_applies_to_the_decoded_bytes() -> None:
    exact = base64.b64encode(b"\0" * 300).decode()
    assert len(parse_data_image_url(f"data:image/png;base64,{exact}", max_bytes=300).data) == 300
    over = base64.b64encode(b"\0" * 301).decode()
    with pytest.raises(UrlRejected, match="holds more than 300 bytes of image data"):
        parse_data_image_url(f"data:image/png;base64,{over}", max_bytes=300)


def test_the_default_limit_is_20_mb_and_is_checked_before_decoding() -> None:
    # 28 MB of base64 text; only the length is looked at.
    huge = "data:image/png;base64," + "A" * (28 * 1024 * 1024)
    with pytest.raises(UrlRejected, match="holds more than 20 MB of image data"):
        parse_data_image_url(huge)
