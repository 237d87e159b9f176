"""``multipart/form-data`` bodies, parsed whole from bytes with bounds on every part.

The body has already been read under the server's body limit (``api.requests.body_bytes``);
here each text field, each file and the number of parts are bounded too (python-multipart
bounds each part's headers: 8 lines of 4 KB), so that a form cannot smuggle a megabyte
"prompt" or thousands of tiny fields past the checks that follow. A name sent twice is
refused (which one would count?), and so is a body that ends before its closing boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import orjson
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from opendance import errors

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # declared for type checkers only

MAX_PARTS: Final = 32
MAX_FIELD_BYTES: Final = 64 * 1024
"""A text field: the longest legitimate one (a 2000-character prompt in UTF-8) fits 8 times."""


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FormBody:
    fields: dict[str, str]
    files: dict[str, UploadedFile]


def canonical_form(form: FormBody) -> bytes:
    """A form in one spelling whatever its boundary or part order (an Idempotency-Key's
    fingerprint): its fields, and a digest of each file's bytes."""
    files = {name: hashlib.sha256(upload.data).hexdigest() for name, upload in form.files.items()}
    return orjson.dumps({"fields": form.fields, "files": files}, option=orjson.OPT_SORT_KEYS)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").lower().startswith("multipart/form-data")


def parse_form(content_type: str, body: bytes, *, max_file_bytes: int) -> FormBody:
    """The fields and files of a ``multipart/form-data`` body. Raises ``InvalidRequest``
    (malformed, too many parts, a name twice) or ``PayloadTooLarge`` (a part over its limit),
    naming the field where there is one."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise errors.InvalidRequest("the multipart/form-data Content-Type has no boundary")
    reader = _Reader(max_file_bytes)
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        parser.write(body)
        parser.finalize()
    except FormParserError:
        raise errors.InvalidRequest("the multipart/form-data body is malformed") from None
    if not reader.ended:
        raise errors.InvalidRequest("the multipart/form-data body ends before its closing boundary")
    return FormBody(reader.fields, reader.files)


class _Reader:
    """The parser's callbacks: they collect each part and enforce the bounds as bytes come."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.files: dict[str, UploadedFile] = {}
        self.ended = False
        self._parts = 0
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._collect(self._header_name),
            "on_header_value": self._collect(self._header_value),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_end": self._finished,
        }

    def _begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise errors.InvalidRequest(f"the form has more than {MAX_PARTS} parts")
        self._part = _Part()

    def _collect(self, into: bytearray) -> Callable[[bytes, int, int], None]:
        def collect(data: bytes, start: int, end: int) -> None:
            into.extend(data[start:end])

        return collect

    def _header_end(self) -> None:
        self._part.headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self._part.headers.get(b"content-disposition", b"")
        )
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise errors.InvalidRequest(
                'every form part needs a "Content-Disposition: form-data; name=..." header'
            )
        self._part.name = _text(name)
        if self._part.name in self.fields or self._part.name in self.files:
            raise errors.InvalidRequest(
                f"the form sends {self._part.name} twice", param=self._part.name
            )
        filename = options.get(b"filename")
        self._part.filename = None if filename is None else _text(filename)

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        limit = MAX_FIELD_BYTES if part.filename is None else self.max_file_bytes
        if len(part.data) + (end - start) > limit:
            kind = "field" if part.filename is None else "file"
            raise errors.PayloadTooLarge(
                f"the form {kind} {part.name} is larger than {limit} bytes", param=part.name
            )
        part.data.extend(data[start:end])

    def _end(self) -> None:
        part = self._part
        if part.filename is None:
            try:
                self.fields[part.name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise errors.InvalidRequest(
                    f"the form field {part.name} is not UTF-8 text", param=part.name
                ) from None
        else:
            content_type = _text(part.headers.get(b"content-type", b""))
            self.files[part.name] = UploadedFile(part.filename, content_type, bytes(part.data))

    def _finished(self) -> None:
        self.ended = True


def _text(raw: bytes) -> str:
    # Header values are bytes on the wire; browsers and httpx send names as UTF-8.
    return raw.decode("utf-8", errors="replace")
