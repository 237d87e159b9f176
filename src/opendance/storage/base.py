"""The object store protocol. Keys are relative, slash-separated paths (``videos/abc.mp4``)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ObjectStore(Protocol):
    async def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store the file at ``source`` under ``key`` (the source may be moved away)."""
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is already gone."""
        ...

    def public_url(self, key: str) -> str:
        """An absolute URL a client can GET the object from."""
        ...


class ObjectNotFound(Exception):
    """No object is stored under this key."""
