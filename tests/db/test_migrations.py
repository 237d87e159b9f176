"""Alembic migrations produce exactly the schema of opendance.db.tables."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from opendance.db.database import Database
from opendance.db.migrate import current_revision, head_revision, migrate
from opendance.db.tables import metadata


async def test_migrations_match_the_tables_and_are_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
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


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        async with db.read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert mode == "wal" and timeout >= 5000
    finally:
        await db.dispose()
