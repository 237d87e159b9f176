"""A throw-away PostgreSQL database for one test run.

The session creates ``opendance_test_<random>`` on the server named by
``OPENDANCE_TEST_POSTGRES_URL`` (default: the local server as user postgres), migrates it once
and drops it at the end; every test starts from empty tables (TRUNCATE is far cheaper than a
database per test). When no server answers the PostgreSQL variants skip with the reason, unless
``CI`` is set: there a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from opendance.db.database import Database
from opendance.db.migrate import migrate
from opendance.db.tables import metadata

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# The database of the running test's PostgreSQL variant (None: SQLite in the data directory);
# settings and the environment of spawned ``opendance`` processes both follow it.
_current_url: str | None = None


def current_url() -> str | None:
    return _current_url


def use(url: str | None) -> None:
    global _current_url
    _current_url = url


def server_url() -> str:
    return os.environ.get("OPENDANCE_TEST_POSTGRES_URL", DEFAULT_SERVER_URL)


def _plain(url: str) -> str:
    """The URL as asyncpg wants it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(name: str) -> str:
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_plain(server_url()), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(prefix: str = "opendance_test") -> str:
    """Create an empty database with a fresh random name; its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def unavailable_reason() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it answers."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {make_url(server_url()).host} does not answer: {exc!r}"
    return None


def require_server() -> None:
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI is set: PostgreSQL tests must run)")
    pytest.skip(reason)


@contextmanager
def scratch_database(prefix: str = "opendance_test") -> Iterator[str]:
    """An empty database for one test (migration tests need a schema-less one)."""
    name = create_database(prefix)
    try:
        yield database_url(name)
    finally:
        drop_database(name)


async def migrate_to_head(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


async def _truncate(url: str) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    conn = await asyncpg.connect(_plain(url), timeout=5)
    try:
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def empty_tables(url: str) -> None:
    asyncio.run(_truncate(url))
