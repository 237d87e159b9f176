"""Bring the schema to the newest Alembic revision, safely when several processes start at once."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process of one deployment.
MIGRATION_LOCK_KEY = 7405630211


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def migrate(database: Database) -> None:
    """Upgrade to head. Serialised by a file lock next to a SQLite file (one machine), by a
    transaction-scoped advisory lock on PostgreSQL: the DDL and the lock share one transaction,
    so the lock is released by its COMMIT or ROLLBACK, even when the upgrade fails half-way."""
    with _sqlite_file_lock(database):
        async with database.engine.connect() as conn:
            if database.is_sqlite:
                await conn.execution_options(opendance_sqlite_begin="BEGIN IMMEDIATE")
                await _sqlite_foreign_keys(conn, enabled=False)
            try:
                async with conn.begin():
                    if not database.is_sqlite:
                        await conn.exec_driver_sql(
                            f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                        )
                    await conn.run_sync(_upgrade)
                    if database.is_sqlite:
                        await _check_sqlite_foreign_keys(conn)
            finally:
                if database.is_sqlite:
                    await _sqlite_foreign_keys(conn, enabled=True)


async def _sqlite_foreign_keys(conn: AsyncConnection, *, enabled: bool) -> None:
    """SQLite alters a table by rebuilding it (copy, drop, rename), and with foreign keys on
    the drop deletes the rows other tables point at, or fails. Its documented way out: foreign
    keys off around the change, checked before the commit. The pragma does nothing inside a
    transaction, so it goes to the driver's connection directly, outside one."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")


async def _check_sqlite_foreign_keys(conn: AsyncConnection) -> None:
    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise RuntimeError(f"the migration would leave broken foreign keys: {broken[:5]}")


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def _upgrade(sync_conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")


@contextmanager
def _sqlite_file_lock(database: Database) -> Iterator[None]:
    path = database.engine.url.database
    if not database.is_sqlite or not path or path == ":memory:":
        yield
        return
    lock_path = Path(path).with_suffix(".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
