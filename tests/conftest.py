"""Shared fixtures: settings over a temporary data directory, a live server on loopback.

The contract suites run on both databases: every test under ``BOTH_DATABASES`` runs once on
SQLite and once on PostgreSQL (``--db`` narrows that to one; ``only_on("postgresql")`` marks a
test of what only one database has). ``make_settings`` picks the database of the running
variant, so tests that build their own settings follow along.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.settings import Settings
from tests.support import postgres
from tests.support.live import LiveServer, free_port

BOTH_DATABASES = (
    "tests/api/",
    "tests/db/",
    "tests/worker/test_leases.py",
    "tests/worker/test_end_to_end.py",
    "tests/worker/test_delivered_media.py",
    "tests/worker/test_webhooks.py",
    "tests/worker/test_two_workers.py",
    "tests/worker/test_wakeups.py",
    "tests/storage/test_s3_end_to_end.py",
    "tests/storage/test_object_sweep.py",
    "tests/worker/test_concurrency.py",
    "tests/worker/test_mixed_fleet.py",
    "tests/worker/test_cancel.py",
    "tests/worker/test_stalled_slot.py",
    "tests/worker/test_pipelining.py",
    "tests/services/test_credit_grants.py",
    "tests/dialects/",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("both", "sqlite", "postgresql"),
        default="both",
        help="which databases the dual-database suites run on (default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    relative = metafunc.definition.path.relative_to(metafunc.config.rootpath).as_posix()
    if not relative.startswith(BOTH_DATABASES):
        return
    choice = metafunc.config.getoption("--db")
    backends = ["sqlite", "postgresql"] if choice == "both" else [choice]
    only = metafunc.definition.get_closest_marker("only_on")
    if only is not None:
        backends = [name for name in backends if name in only.args]
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated database for the whole run, dropped at the end."""
    postgres.require_server()
    name = postgres.create_database()
    url = postgres.database_url(name)
    try:
        asyncio.run(postgres.migrate_to_head(url))
        yield url
    finally:
        postgres.drop_database(name)


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database of this test: SQLite in the data directory, or the run's PostgreSQL
    database with every table emptied."""
    name: str = getattr(request, "param", "sqlite")
    if name == "postgresql":
        url: str = request.getfixturevalue("postgres_database")
        postgres.empty_tables(url)
        postgres.use(url)
    try:
        yield name
    finally:
        postgres.use(None)


@pytest.fixture(autouse=True)
def process_logging() -> Iterator[None]:
    """Logging as pytest set it up, again after every test. A command run in-process (through
    ``CliRunner``) configures logging onto the stream it captured and closes afterwards; left
    in place, that handler would fail on every later record of the run."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    uvicorn_loggers = {
        name: (logger.handlers[:], logger.propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        for logger in [logging.getLogger(name)]
    }
    hooks = sys.excepthook, threading.excepthook
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, (saved, propagate) in uvicorn_loggers.items():
            logging.getLogger(name).handlers[:] = saved
            logging.getLogger(name).propagate = propagate
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook = hooks


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
    if (database_url := postgres.current_url()) is not None:
        values["database_url"] = database_url
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
