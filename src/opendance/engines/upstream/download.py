"""Fetching the finished video from wherever the upstream put it.

The upstream chooses the video URL, so the URL is only as trusted as its origin:

- on the upstream's own origin (scheme, host and port of ``OPENDANCE_UPSTREAM_URL``) it is
  fetched like the API itself: the operator chose that host, and it may well be internal;
- anywhere else (a CDN, a bucket, a redirect off the upstream's origin) it must pass the same
  SSRF policy as users' ``image_urls``: a compromised or careless upstream must not be able to
  point this server at its own network or a cloud metadata address.

Every hop is judged again, so a redirect from the upstream to an internal address is refused.
The body is streamed to a file, bounded in size and by the task's deadline. The API key is
never sent: video URLs are capability URLs (signed or unguessable), not API calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

from opendance.net.addresses import AddressPolicy
from opendance.net.client import REDIRECT_STATUSES, SafeHttpClient, SavedResponse
from opendance.net.errors import AddressRejected, FetchFailed, ResponseTooLarge, UrlRejected
from opendance.net.limits import format_size
from opendance.net.resolver import Resolver
from opendance.net.urls import parse_http_url

log = logging.getLogger("opendance.engines.upstream")

MAX_VIDEO_BYTES = 512 * 1024 * 1024
"""12 s at 720p is tens of megabytes even at a generous bitrate; 512 MB is far beyond any
honest answer and still bounds the disk a hostile one can fill."""
MAX_VIDEO_REDIRECTS = 5

_TRUSTED = AddressPolicy.allow_all_private()


class VideoDownloadFailed(Exception):
    """The video could not be fetched; the message is fit for the client."""


def download_video(
    url: str,
    dest: Path,
    *,
    upstream_origin: tuple[str, str, int],
    policy: AddressPolicy,
    resolver: Resolver,
    timeout: float,
    max_bytes: int = MAX_VIDEO_BYTES,
    on_chunk: Callable[[], None] = lambda: None,
) -> None:
    """Write the video at ``url`` to ``dest``; raise ``VideoDownloadFailed``.

    ``on_chunk`` is called as data arrives; whatever it raises (a cancellation) stops the
    download. Runs its own event loop: the engine is synchronous, in a worker thread.
    """
    asyncio.run(
        _download(
            url,
            dest,
            upstream_origin,
            policy,
            resolver,
            timeout=timeout,
            max_bytes=max_bytes,
            on_chunk=on_chunk,
        )
    )


async def _download(
    url: str,
    dest: Path,
    upstream_origin: tuple[str, str, int],
    policy: AddressPolicy,
    resolver: Resolver,
    *,
    timeout: float,  # noqa: ASYNC109 -- one deadline over all hops and the body
    max_bytes: int,
    on_chunk: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with dest.open("wb") as sink:

        def write(chunk: bytes) -> None:
            sink.write(chunk)
            on_chunk()

        for _hop in range(MAX_VIDEO_REDIRECTS + 1):
            try:
                parsed = parse_http_url(url, subject="the video URL")
            except UrlRejected as exc:
                log.warning("upstream video URL refused: %s", exc)
                raise VideoDownloadFailed("its URL is not a valid http(s) URL") from None
            trusted = parsed.origin == upstream_origin
            client = SafeHttpClient(_TRUSTED if trusted else policy, resolver)
            sink.seek(0)
            sink.truncate()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise VideoDownloadFailed(f"timed out after {timeout:g} s")
            try:
                answer: SavedResponse = await client.download(
                    parsed.url,
                    write,
                    headers={"Accept": "video/mp4, */*;q=0.5"},
                    timeout=remaining,
                    max_body_bytes=max_bytes,
                    subject="the video URL",
                )
            except ResponseTooLarge:
                raise VideoDownloadFailed(
                    f"the video is larger than {format_size(max_bytes)}"
                ) from None
            except AddressRejected as exc:
                # Details (which internal address) only in the log, as for image_urls.
                log.warning("upstream video URL %s refused: %s", parsed.url, exc)
                raise VideoDownloadFailed("its URL is not publicly reachable") from None
            except (UrlRejected, FetchFailed) as exc:
                log.warning("upstream video %s: %s", parsed.url, exc)
                raise VideoDownloadFailed(_public_fetch_reason(exc)) from None
            location = answer.headers.get("location")
            if answer.status in REDIRECT_STATUSES and location:
                url = urljoin(parsed.url, location)
                continue
            if not answer.is_success:
                log.warning("upstream video %s: HTTP %d", parsed.url, answer.status)
                raise VideoDownloadFailed(f"HTTP {answer.status}")
            if answer.size == 0:
                raise VideoDownloadFailed("the answer was empty")
            return
    raise VideoDownloadFailed(f"too many redirects (more than {MAX_VIDEO_REDIRECTS})")


def _public_fetch_reason(exc: Exception) -> str:
    """What went wrong, without the host names a client has no business learning."""
    text = str(exc)
    if "timed out" in text:
        return "timed out"
    if "refused" in text or "connect" in text:
        return "the server could not be reached"
    return "the transfer failed"
