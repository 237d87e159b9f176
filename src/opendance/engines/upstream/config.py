"""What the upstream engine needs from the settings, checked once when the engine is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opendance.engines.base import EngineCapabilities
from opendance.errors import OpendanceError
from opendance.net.errors import UrlRejected
from opendance.net.urls import ParsedUrl, parse_http_url

if TYPE_CHECKING:
    from opendance.settings import Settings


class UpstreamNotConfigured(OpendanceError):
    """The upstream engine was chosen but the settings do not say where or how to reach it."""


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str
    """Without a trailing slash; API paths (``/v1/generate``) are appended to it."""
    api_key: str
    timeout_seconds: float
    poll_seconds: float

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) of the upstream: video URLs there are trusted like the API."""
        return _parse(self.base_url).origin

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamConfig:
        url = (settings.upstream_url or "").strip()
        key = (settings.upstream_api_key or "").strip()
        missing = [
            name
            for name, value in (
                ("OPENDANCE_UPSTREAM_URL", url),
                ("OPENDANCE_UPSTREAM_API_KEY", key),
            )
            if not value
        ]
        if missing:
            raise UpstreamNotConfigured(
                f"the upstream engine needs {' and '.join(missing)}: the base URL of a "
                "Seedance-compatible API (e.g. https://api.example.com) and an API key for it"
            )
        parsed = _parse(url)
        if "?" in parsed.target:
            raise UpstreamNotConfigured("OPENDANCE_UPSTREAM_URL must not have a query string")
        return cls(
            base_url=url.rstrip("/"),
            api_key=key,
            timeout_seconds=settings.upstream_timeout_seconds,
            poll_seconds=settings.upstream_poll_seconds,
        )


def _parse(url: str) -> ParsedUrl:
    try:
        return parse_http_url(url, subject="OPENDANCE_UPSTREAM_URL")
    except UrlRejected as exc:
        raise UpstreamNotConfigured(str(exc)) from None


def upstream_capabilities(settings: Settings) -> EngineCapabilities:
    """What the upstream can do, as the operator declared it (the API refuses the rest)."""
    return EngineCapabilities(
        audio=settings.upstream_audio, image_to_video=settings.upstream_image_to_video
    )
