"""Forms parsed from bytes with bounds on every part (the OpenAI door's create)."""

from __future__ import annotations

import httpx
import pytest

from opendance import errors
from opendance.services.multipart_form import (
    MAX_FIELD_BYTES,
    MAX_PARTS,
    canonical_form,
    is_multipart,
    parse_form,
)


def _encoded(data: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[str, bytes]:
    """A form with a file as httpx (and so the OpenAI SDK) encodes it: Content-Type, body."""
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.headers["content-type"], request.read()


def _raw(parts: list[bytes]) -> tuple[str, bytes]:
    boundary = b"b0undary"
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return "multipart/form-data; boundary=b0undary", body + b"--" + boundary + b"--\r\n"


def _field(name: str, value: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value


def test_fields_and_files_come_back_as_sent() -> None:
    content_type, body = _encoded(
        {"prompt": "a fox, «snow»", "seconds": "8", "generate_audio": "true"},
        {"input_reference": ("frame.png", b"\x89PNG\r\n\x1a\nrest", "image/png")},
    )
    form = parse_form(content_type, body, max_file_bytes=1000)
    assert form.fields == {"prompt": "a fox, «snow»", "seconds": "8", "generate_audio": "true"}
    upload = form.files["input_reference"]
    assert (upload.filename, upload.content_type) == ("frame.png", "image/png")
    assert upload.data == b"\x89PNG\r\n\x1a\nrest"
    assert is_multipart(content_type) and not is_multipart("application/json")


def test_the_same_form_with_another_boundary_has_the_same_fingerprint() -> None:
    one = parse_form(*_raw([_field("a", b"1"), _field("b", b"2")]), max_file_bytes=10)
    content_type, body = _raw([_field("b", b"2"), _field("a", b"1")])
    other = parse_form(
        content_type.replace("b0undary", "zz"), body.replace(b"b0undary", b"zz"), max_file_bytes=10
    )
    changed = parse_form(*_raw([_field("a", b"1"), _field("b", b"3")]), max_file_bytes=10)
    assert canonical_form(one) == canonical_form(other) != canonical_form(changed)


def test_a_text_field_over_its_limit_is_refused_naming_it() -> None:
    with pytest.raises(errors.PayloadTooLarge) as caught:
        parse_form(*_raw([_field("prompt", b"x" * (MAX_FIELD_BYTES + 1))]), max_file_bytes=10)
    assert caught.value.param == "prompt"


def test_a_file_over_its_limit_is_refused_naming_it() -> None:
    content_type, body = _encoded({}, {"input_reference": ("a.png", b"x" * 101, "image/png")})
    with pytest.raises(errors.PayloadTooLarge) as caught:
        parse_form(content_type, body, max_file_bytes=100)
    assert caught.value.param == "input_reference"


def test_too_many_parts_are_refused() -> None:
    parts = [_field(f"f{i}", b"1") for i in range(MAX_PARTS + 1)]
    with pytest.raises(errors.InvalidRequest, match="parts"):
        parse_form(*_raw(parts), max_file_bytes=10)


def test_a_name_sent_twice_is_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="twice") as caught:
        parse_form(*_raw([_field("seconds", b"4"), _field("seconds", b"8")]), max_file_bytes=10)
    assert caught.value.param == "seconds"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", b"--x\r\n", "boundary"),
        (
            "multipart/form-data; boundary=b0undary",
            b"--b0undary\r\n" + _field("a", b"1"),
            "closing boundary",
        ),
        (
            "multipart/form-data; boundary=b0undary",
            b"--b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0undary--\r\n",
            "Content-Disposition",
        ),
        (
            "multipart/form-data; boundary=b0undary",
            b"--b0undary\r\nContent-Disposition: form-data; name=a\r\nX-Pad: "
            + b"p" * 9000
            + b"\r\n\r\nx\r\n--b0undary--\r\n",
            "malformed",  # python-multipart's bound on a header line
        ),
        ("multipart/form-data; boundary=b0undary", b"garbage", "malformed"),
    ],
)
def test_malformed_forms_are_refused(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        parse_form(content_type, body, max_file_bytes=10)


def test_a_field_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="UTF-8"):
        parse_form(*_raw([_field("prompt", b"\xff\xfe")]), max_file_bytes=10)
