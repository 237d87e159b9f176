"""Strict-Transport-Security when the public URL is https: on every answer (API, errors,
pages), so a browser that once reached the server over https never downgrades to http."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.live import LiveServer

PATHS = ["/healthz", "/v1/status?task_id=x", "/no/such/page", "/dashboard", "/metrics"]


def _headers(tmp_path: Path, **overrides: object) -> Iterator[dict[str, str | None]]:
    # the server listens on loopback; the public URL is only what it tells clients
    live = LiveServer(make_settings(tmp_path, **overrides), with_worker=False).start()
    try:
        with live.client() as client:
            for path in PATHS:
                response = client.get(path)
                yield {"path": path, "hsts": response.headers.get("strict-transport-security")}
    finally:
        live.stop()


def test_https_public_url_sends_hsts_everywhere(tmp_path: Path) -> None:
    seen = list(_headers(tmp_path, public_url="https://video.example.com"))
    assert all(entry["hsts"] == "max-age=31536000" for entry in seen), seen


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"public_url": "http://video.example.com"}, "plain http"),
        ({"public_url": "https://video.example.com", "hsts_seconds": 0}, "turned off"),
    ],
)
def test_no_hsts_over_http_or_when_turned_off(
    tmp_path: Path, overrides: dict[str, object], why: str
) -> None:
    assert all(entry["hsts"] is None for entry in _headers(tmp_path, **overrides)), why
