"""Writing a download to disk: into ``NAME.part`` first, renamed into place when complete, so
a broken or interrupted download never leaves a truncated video under the real name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from opendance.client.errors import TransportError
from opendance.client.models import DownloadProgress

ProgressCallback = Callable[[DownloadProgress], None]


class DownloadTarget:
    """Where a download is written; a network failure while it is open becomes the SDK's
    ``TransportError`` naming the URL."""

    def __init__(
        self, path: Path, *, url: str, total: int | None, on_progress: ProgressCallback | None
    ) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        self.url = url
        self.total = total
        self.downloaded = 0
        self.on_progress = on_progress

    def __enter__(self) -> DownloadTarget:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.partial.open("wb")
        self._report()
        return self

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.downloaded += len(chunk)
        self._report()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._file.close()
        if isinstance(exc, httpx.TransportError):
            self.partial.unlink(missing_ok=True)
            raise broken_download(self.url, exc) from exc
        if exc_type is None and self.total is not None and self.downloaded != self.total:
            self.partial.unlink(missing_ok=True)
            raise TransportError(
                f"the download of {self.url} ended after {self.downloaded} of {self.total} bytes",
                url=self.url,
            )
        if exc_type is not None:
            self.partial.unlink(missing_ok=True)
            return
        os.replace(self.partial, self.path)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(DownloadProgress(self.downloaded, self.total))


def content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def broken_download(url: str, exc: httpx.TransportError) -> TransportError:
    return TransportError(f"the download of {url} broke off: {exc or type(exc).__name__}", url=url)
