"""Fixtures of the migration tests: an empty database to build an old schema in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """SQLite: a file of its own; PostgreSQL: a scratch database named after the test module,
    dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres.require_server()
    module = request.module.__name__.rsplit(".", 1)[-1]
    with postgres.scratch_database(f"opendance_{module}") as url:
        yield url
