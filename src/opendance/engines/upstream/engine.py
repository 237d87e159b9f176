"""The upstream engine: another Seedance-compatible API renders, this server resells it.

One task: POST /v1/generate upstream with the spec, poll /v1/status, download the video into
scratch space, and hand it to the worker as it is (it already matches the contract) or as
frames to encode (it does not). Everything runs within ``upstream_timeout_seconds``.

What a client reads in ``error_message`` never contains the upstream's URL or the operator's
key; the server log has the upstream's own words.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import re
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx
from PIL import Image

from opendance.engines.base import (
    EncodedVideo,
    EngineCapabilities,
    EngineError,
    GenerationResult,
    ProgressCallback,
)
from opendance.engines.upstream.client import UpstreamClient
from opendance.engines.upstream.config import UpstreamConfig, upstream_capabilities
from opendance.engines.upstream.conform import conform_video
from opendance.engines.upstream.download import (
    MAX_VIDEO_BYTES,
    VideoDownloadFailed,
    download_video,
)
from opendance.engines.upstream.polling import (
    UPSTREAM_SHARE,
    Waiter,
    submit_task,
    wait_for_video,
)
from opendance.net.addresses import AddressPolicy
from opendance.net.resolver import Resolver, SystemResolver
from opendance.net.urls import parse_http_url

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec
    from opendance.settings import Settings

log = logging.getLogger("opendance.engines.upstream")

DOWNLOADED = 0.95
MAX_PUBLIC_DETAIL = 300


class UpstreamEngine:
    name = "upstream"

    def __init__(
        self,
        config: UpstreamConfig,
        capabilities: EngineCapabilities,
        *,
        scratch_root: Path,
        policy: AddressPolicy,
        resolver: Resolver,
        transport: httpx.BaseTransport | None = None,
        max_video_bytes: int = MAX_VIDEO_BYTES,
    ) -> None:
        self.config = config
        self.capabilities = capabilities
        self.policy = policy
        self.resolver = resolver
        self.max_video_bytes = max_video_bytes
        self._scratch_root = scratch_root
        self._scratch: Path | None = None
        self._client = UpstreamClient(config, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamEngine:
        """Raises ``UpstreamNotConfigured`` without a URL and key."""
        # Video URLs off the upstream's origin are user-grade URLs: the same policy as
        # image_urls (see download.py), including the operator's development switch.
        policy = (
            AddressPolicy.allow_all_private(also_block=settings.extra_blocked)
            if settings.allow_private_urls
            else AddressPolicy.default(also_block=settings.extra_blocked)
        )
        return cls(
            UpstreamConfig.from_settings(settings),
            upstream_capabilities(settings),
            scratch_root=settings.data_dir / "work",
            policy=policy,
            resolver=SystemResolver(),
        )

    def generate(
        self, spec: GenerationSpec, on_progress: ProgressCallback
    ) -> GenerationResult | EncodedVideo:
        waiter = Waiter(self.config.timeout_seconds, on_progress)
        waiter.progress(0.0)
        poll = self.config.poll_seconds
        task_id = submit_task(
            self._client, upstream_request(spec), waiter, poll_seconds=poll, public=self._public
        )
        video_url = wait_for_video(
            self._client, task_id, waiter, poll_seconds=poll, public=self._public
        )
        waiter.progress(UPSTREAM_SHARE)
        path = self._scratch_dir() / f"upstream-{secrets.token_hex(8)}.mp4"
        try:
            self._download(video_url, path, waiter)
            waiter.progress(DOWNLOADED)
            return conform_video(path, spec)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _download(self, url: str, path: Path, waiter: Waiter) -> None:
        try:
            download_video(
                # Relative URLs are resolved against the API, as a browser would.
                _absolute(url, self.config.base_url),
                path,
                upstream_origin=self.config.origin,
                policy=self.policy,
                resolver=self.resolver,
                timeout=waiter.call_timeout(math.inf),
                max_bytes=self.max_video_bytes,
                # keeps reporting, so a cancellation stops a long download too
                on_chunk=lambda: waiter.progress(waiter.fraction),
            )
        except VideoDownloadFailed as exc:
            raise EngineError(
                f"the finished video could not be fetched from the upstream service: {exc}"
            ) from None

    def _scratch_dir(self) -> Path:
        # Named like the worker's own scratch directories (host-pid-token), so the next worker
        # on this host sweeps it if this process dies with a download in it.
        if self._scratch is None:
            self._scratch_root.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
            self._scratch = self._scratch_root / name
            self._scratch.mkdir()
        return self._scratch

    def _public(self, text: str) -> str:
        """Upstream wording made fit for a client: no key, no upstream address, one short line."""
        secrets_and_places = [self.config.api_key, self.config.base_url]
        host = parse_http_url(self.config.base_url).host
        for value in sorted(secrets_and_places, key=len, reverse=True):
            text = text.replace(value, "[upstream]")
        text = re.sub(re.escape(host), "[upstream]", text, flags=re.IGNORECASE)
        text = " ".join(text.split())
        if len(text) > MAX_PUBLIC_DETAIL:
            text = text[: MAX_PUBLIC_DETAIL - 1] + "…"
        return text


def upstream_request(spec: GenerationSpec) -> dict[str, Any]:
    """The body of POST /v1/generate for ``spec``. The input image travels inline, already
    fitted to the frame: our own URLs may not be reachable from the upstream (and need not be
    shown to it)."""
    body: dict[str, Any] = {
        "prompt": spec.prompt,
        "aspect_ratio": spec.aspect_ratio,
        "resolution": spec.resolution,
        "duration": str(spec.duration),
        "generate_audio": spec.generate_audio,
        "fixed_lens": spec.fixed_lens,
        "seed": spec.seed,
    }
    if spec.first_frame is not None:
        body["image_urls"] = [png_data_url(spec.first_frame)]
    return body


def png_data_url(rgb: npt.NDArray[np.uint8]) -> str:
    buffer = io.BytesIO()
    # Lossless, so the upstream starts from exactly our first frame; level 3 is much faster
    # than the default and only slightly larger.
    Image.fromarray(rgb, mode="RGB").save(buffer, format="PNG", compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _absolute(url: str, base: str) -> str:
    return urljoin(base + "/", url)
