"""The two calls of the Seedance API the upstream engine makes, and what their answers mean.

One call, one answer: retrying and waiting are the engine's business. Every failure is one of

    UpstreamError
    ├── UpstreamUnreachable    no connection was made: the request certainly was not received
    ├── UpstreamTransient      5xx, 429, a broken connection or a read timeout: it may work later,
    │                          but a POST may have been received (and charged) all the same
    ├── UpstreamRejected       a 4xx answer (not 429): this request will never work
    └── UpstreamProtocolError  a 2xx answer that is not the Seedance envelope we expect

Messages here are for the server's log: they may name the upstream and quote its answers.
The engine decides what a client gets to read. The API key is only ever sent in the
``Authorization`` header, never logged.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from opendance import __version__
from opendance.engines.upstream.config import UpstreamConfig

# An upstream's JSON answers are small; anything bigger is not a Seedance answer.
MAX_ANSWER_BYTES = 1024 * 1024


class UpstreamError(Exception):
    """A call to the upstream API did not give a usable answer."""


class UpstreamUnreachable(UpstreamError):
    """No connection could be made; nothing was sent."""


class UpstreamTransient(UpstreamError):
    """A failure that may pass: 5xx, 429, a broken connection, a timeout."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class UpstreamRejected(UpstreamError):
    """A 4xx answer other than 429."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class UpstreamProtocolError(UpstreamError):
    """A success answer we cannot read."""


@dataclass(frozen=True)
class UpstreamStatus:
    status: str
    """``IN_PROGRESS``, ``SUCCESS`` or ``FAILED`` (upper-cased; anything else means running)."""
    progress: float | None
    """0.0 to 1.0 when the upstream reports ``progress`` (0-100), else None."""
    video_url: str | None
    error_message: str | None


class UpstreamClient:
    """Synchronous (the engine runs in a worker thread); one connection pool per engine.

    Redirects are not followed: an API that moved is a configuration error, and following it
    would carry the key somewhere else. ``transport`` is a seam for tests of odd answers.
    """

    def __init__(self, config: UpstreamConfig, *, transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(
            base_url=config.base_url,
            headers={
                "Authorization": f"Bearer {config.api_key}",
                "User-Agent": f"Opendance/{__version__} (upstream engine)",
            },
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any], *, timeout: float) -> str:
        """POST /v1/generate; the upstream's task id."""
        data = self._call("POST", "/v1/generate", timeout=timeout, json=body)
        task_id = data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamProtocolError("POST /v1/generate answered without a task_id")
        return task_id

    def status(self, task_id: str, *, timeout: float) -> UpstreamStatus:
        """GET /v1/status for one task."""
        data = self._call("GET", "/v1/status", timeout=timeout, params={"task_id": task_id})
        status = data.get("status")
        if not isinstance(status, str):
            raise UpstreamProtocolError("GET /v1/status answered without a status")
        response = data.get("response")
        video_url = None
        if isinstance(response, list) and response and isinstance(response[0], str):
            video_url = response[0]
        progress = data.get("progress")
        fraction = None
        if isinstance(progress, int | float) and not isinstance(progress, bool):
            fraction = min(max(float(progress) / 100, 0.0), 1.0)
        error = data.get("error_message")
        return UpstreamStatus(
            status=status.strip().upper(),
            progress=fraction,
            video_url=video_url,
            error_message=error if isinstance(error, str) else None,
        )

    def _call(self, method: str, path: str, *, timeout: float, **kwargs: Any) -> dict[str, Any]:
        where = f"{method} {path}"
        # The connect timeout is short: an upstream that does not accept a connection within
        # it is down, and a POST that never connected is safe to send again.
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        try:
            with self._http.stream(method, path, timeout=limits, **kwargs) as response:
                raw = _read_limited(response)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamUnreachable(f"{where}: cannot connect ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise UpstreamTransient(f"{where}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise UpstreamTransient(
                f"{where}: HTTP {status}",
                status=status,
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        envelope = _json_object(raw)
        if 400 <= status < 500:
            code = envelope.get("error") if envelope else None
            message = envelope.get("message") if envelope else None
            raise UpstreamRejected(
                status,
                code if isinstance(code, str) else "",
                message if isinstance(message, str) else "",
            )
        if status != 200:
            raise UpstreamProtocolError(f"{where}: unexpected HTTP {status}")
        if envelope is None or not isinstance(envelope.get("data"), dict):
            raise UpstreamProtocolError(f"{where}: the answer is not a Seedance JSON envelope")
        data: dict[str, Any] = envelope["data"]
        return data


def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise UpstreamProtocolError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
