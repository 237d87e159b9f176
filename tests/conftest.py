"""Shared fixtures: settings over a temporary data directory, a live server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.settings import Settings
from tests.support.live import LiveServer, free_port


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    port = free_port()
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "poll_seconds": 0.05,
        "heartbeat_seconds": 0.2,
        "lease_seconds": 5.0,
        "drain_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings).start()
    yield live
    live.stop()


@pytest.fixture
def api_only_server(settings: Settings) -> Iterator[LiveServer]:
    """A server with no worker: tasks stay queued, so submit-side checks are isolated."""
    live = LiveServer(settings, with_worker=False).start()
    yield live
    live.stop()
