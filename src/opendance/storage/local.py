"""Objects as files under a directory, served by the API at signed URLs."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from opendance.domain import url_signing
from opendance.storage.base import (
    READ_CHUNK_BYTES,
    ObjectNotFound,
    ObjectReader,
    StorageUnavailable,
    StoredObject,
)

FILES_ROUTE = "/files"
LIST_PAGE = 1000


class LocalObjectStore:
    def __init__(self, root: Path, *, public_base_url: str, secret: bytes) -> None:
        self.root = root
        self.public_base_url = public_base_url.rstrip("/")
        self._secret = secret

    def path_for(self, key: str) -> Path:
        """The file of ``key``; refuses keys that would leave the root."""
        parts = PurePosixPath(key).parts
        if not parts or any(p in ("..", "") or p.startswith("/") for p in parts) or "\\" in key:
            raise ObjectNotFound(key)
        return self.root.joinpath(*parts)

    async def put_file(self, key: str, source: Path, content_type: str) -> None:
        await asyncio.to_thread(self._move_in, key, source)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_for(key).read_bytes)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    async def open_read(self, key: str) -> ObjectReader:
        path = self.path_for(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return ObjectReader(os.fstat(handle.fileno()).st_size, _chunks(handle))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_for(key).unlink, missing_ok=True)

    async def list_objects(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        walk = self._walk(prefix)
        while page := await asyncio.to_thread(_next_page, walk):
            yield page

    def _walk(self, prefix: str) -> Iterator[StoredObject]:
        # Names starting with a dot are writes in progress (see _move_in and _write), not keys.
        parts = PurePosixPath(prefix).parts
        start = self.root.joinpath(*(parts if prefix.endswith("/") else parts[:-1]))
        for directory, subdirs, files in os.walk(start):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(directory, name)
                key = path.relative_to(self.root).as_posix()
                if name.startswith(".") or not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # deleted meanwhile
                    continue
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                yield StoredObject(key, stat.st_size, modified)

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"the objects directory {self.root} cannot be created: {exc.strerror}"
            ) from None

    def public_url(self, key: str) -> str:
        return self._public_url(key)

    def url_origin(self) -> str:
        parts = urlsplit(self.public_base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one store per process; keys are immutable
    def _public_url(self, key: str) -> str:
        # Status polls ask for the same URL over and over; its signature never changes.
        signature = url_signing.sign(self._secret, key)
        return f"{self.public_base_url}{FILES_ROUTE}/{key}?sig={signature}"

    def verify(self, key: str, signature: str) -> bool:
        return url_signing.verify(self._secret, key, signature)

    def signed_file(self, key: str, signature: str) -> Path | None:
        try:
            path = self.path_for(key)
        except ObjectNotFound:
            return None
        if not self.verify(key, signature) or not path.is_file():
            return None
        return path

    def _move_in(self, key: str, source: Path) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)  # atomic when on the same file system
        except OSError:
            tmp = target.with_name(f".{target.name}.part")
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            source.unlink(missing_ok=True)

    def _write(self, key: str, data: bytes) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    # The open file keeps its bytes even if the object is replaced or deleted meanwhile.
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _next_page(objects: Iterator[StoredObject]) -> list[StoredObject]:
    page = []
    for found in objects:
        page.append(found)
        if len(page) == LIST_PAGE:
            break
    return page
