"""The object store protocol. Keys are relative, slash-separated paths (``videos/abc.mp4``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from opendance.errors import OpendanceError


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified_at: datetime  # UTC, aware


READ_CHUNK_BYTES = 1024 * 1024
"""What a streamed read holds in memory at a time."""


@dataclass(frozen=True)
class ObjectReader:
    """An object being read: its size, and its bytes a chunk at a time. The chunks come from an
    open file or connection, closed when the iteration ends or the iterator is closed."""

    size: int
    chunks: AsyncIterator[bytes]


class ObjectStore(Protocol):
    async def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store the file at ``source`` under ``key`` (the source may be moved away)."""
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes:
        """The object's bytes; ``ObjectNotFound`` if there is none."""
        ...

    async def open_read(self, key: str) -> ObjectReader:
        """The object, to be streamed (a video need not sit in memory whole); raises
        ``ObjectNotFound`` here, before any byte is sent, if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is already gone."""
        ...

    def list_objects(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        """Every object whose key starts with ``prefix``, a page (up to 1,000) at a time."""
        ...

    async def check(self) -> None:
        """Raise ``StorageUnavailable`` (saying what to fix) if the store cannot be used."""
        ...

    def signed_file(self, key: str, signature: str) -> Path | None:
        """The local file behind one of this store's own signed URLs (``/files/KEY?sig=``), or
        None: a bad signature, no such file, or a store whose URLs point elsewhere."""
        ...

    def public_url(self, key: str) -> str:
        """An absolute URL a client can GET the object from. Called on every status poll:
        cheap, and never any network I/O."""
        ...

    def url_origin(self) -> str:
        """``scheme://host[:port]`` of the URLs ``public_url`` returns (pages embed them)."""
        ...


class ObjectNotFound(Exception):
    """No object is stored under this key."""


class StorageUnavailable(OpendanceError):
    """The object store is misconfigured or cannot be reached; the message says what to fix."""
