"""Alembic migrations produce exactly the schema of opendance.db.tables, on both databases, and
several processes starting at once on an empty database end with one schema."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from opendance.db.database import Database
from opendance.db.migrate import current_revision, head_revision, migrate
from opendance.db.tables import metadata
from tests.support import postgres


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (not the suite's migrated one)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    postgres.require_server()
    with postgres.scratch_database("opendance_test_migrate") as url:
        yield url


async def test_migrations_match_the_tables_and_are_idempotent(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        assert await current_revision(db) is None
        await migrate(db)
        await migrate(db)
        assert await current_revision(db) == head_revision()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
        assert diff == []
    finally:
        await db.dispose()


def test_processes_migrating_at_once_all_succeed(empty_database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    env.update(OPENDANCE_DATA_DIR=str(tmp_path / "data"), OPENDANCE_DATABASE_URL=empty_database_url)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "opendance", "migrate", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err
        assert head_revision() in out


@pytest.mark.only_on("sqlite")
async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        async with db.read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert mode == "wal" and timeout >= 5000
    finally:
        await db.dispose()
