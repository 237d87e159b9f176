"""Where the client talks to and with which key: arguments first, then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import httpx

from opendance import __version__
from opendance.client.errors import ConfigurationError
from opendance.client.images import image_url
from opendance.client.models import AspectRatio, Duration, GenerateRequest, Resolution

BASE_URL_ENV = "OPENDANCE_BASE_URL"
API_KEY_ENV = "OPENDANCE_API_KEY"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # where `opendance serve` listens by default
USER_AGENT = f"opendance-python/{__version__}"


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None) -> Endpoint:
        base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
        key = (api_key or os.environ.get(API_KEY_ENV) or "").strip()
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(f"the base URL must start with http:// or https://: {base!r}")
        if not key:
            raise ConfigurationError(f"no API key: pass api_key= or set {API_KEY_ENV}")
        # A trailing slash makes relative paths ("v1/status") land below a path prefix, so a
        # server behind https://host/opendance/ works too.
        return cls(base_url=base.rstrip("/") + "/", api_key=key)

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}

    def download_headers(self, url: str) -> dict[str, str]:
        """Video URLs are signed and need no key; the key goes only to the API's own origin,
        never to a CDN or bucket that serves the videos. ``identity`` keeps the bytes on the
        wire those of the file, so ``Content-Length`` can be checked."""
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        target = httpx.URL(url)
        if target.is_relative_url or _origin(target) == _origin(httpx.URL(self.base_url)):
            headers.update(self.api_headers())
        return headers


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class GenerateOptions(TypedDict, total=False):
    """The optional fields of a generate request, as keyword arguments."""

    aspect_ratio: AspectRatio
    resolution: Resolution
    duration: Duration
    generate_audio: bool
    fixed_lens: bool
    image_urls: Sequence[str]
    image: str | Path
    """A local JPEG/PNG/WebP file (sent inline as a data URL) or an image URL."""
    callback_url: str
    seed: int
    extra: Mapping[str, object]
    """Fields beyond the contract, sent as they are."""
    idempotency_key: str
    """The ``Idempotency-Key`` header (default: a new random one per call). Pass your own to
    make the same request again later, from another process even, without a second task."""


def generate_request(prompt: str, options: GenerateOptions) -> GenerateRequest:
    urls = list(options.get("image_urls") or [])
    image = options.get("image")
    if image is not None:
        urls.append(image_url(image))
    return GenerateRequest(
        prompt=prompt,
        aspect_ratio=options.get("aspect_ratio"),
        resolution=options.get("resolution"),
        duration=options.get("duration"),
        generate_audio=options.get("generate_audio"),
        fixed_lens=options.get("fixed_lens"),
        image_urls=urls or None,
        callback_url=options.get("callback_url"),
        seed=options.get("seed"),
        extra=dict(options.get("extra") or {}),
    )
