"""The reads on every request's path: an API key's owner, and a task by id.

On PostgreSQL they go through the async engine like everything else. On SQLite they run inline
on the event loop over a plain ``sqlite3`` connection: an indexed lookup takes about 10 µs, while
the thread hop of the async driver costs ten times that per statement, which would cap
``/v1/status`` far below the rest of the stack. Reads in WAL mode never wait for writers, so the
loop is not blocked behind a transaction; the short busy timeout bounds the rare exceptions (WAL
recovery). Writes always stay off the loop (they may wait for the write lock).

The statements are the same SQLAlchemy Core expressions, compiled once for SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import JSON, Select, bindparam, select
from sqlalchemy.dialects import sqlite as sqlite_dialect

from opendance.db.accounts import KEY_OWNER_BY_HASH, find_key_owner
from opendance.db.database import Database
from opendance.db.tables import api_keys, tasks
from opendance.db.tasks import TASK_VIEW_COLUMNS, view_from_row
from opendance.db.types import UTCDateTime
from opendance.domain import ids
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_view import TaskView

INLINE_BUSY_TIMEOUT_MS = 1000


class HotReads(Protocol):
    async def key_owner(self, secret: str) -> KeyOwner | None: ...

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        """The key's owner and, if it belongs to that owner's account, the task: one read for
        the whole of an authenticated status poll."""
        ...

    def close(self) -> None: ...


class EngineReads:
    """Through the async engine (PostgreSQL, or any database)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def key_owner(self, secret: str) -> KeyOwner | None:
        async with self.db.read() as conn:
            return await find_key_owner(conn, secret)

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    _KEY_OWNER_AND_TASK, {"key_hash": ids.hash_api_key(secret), "task_id": task_id}
                )
            ).first()
        return _owner_and_task(row._asdict() if row else None)

    def close(self) -> None:
        pass


_KEY_OWNER_AND_TASK = (
    select(
        api_keys.c.id.label("key_id"),
        api_keys.c.account_id.label("key_account_id"),
        api_keys.c.last_used_at.label("key_last_used_at"),
        api_keys.c.expires_at.label("key_expires_at"),
        *TASK_VIEW_COLUMNS,
    )
    .select_from(
        api_keys.outerjoin(
            tasks,
            (tasks.c.id == bindparam("task_id"))
            & (tasks.c.account_id == api_keys.c.account_id)
            & tasks.c.deleted_at.is_(None),
        )
    )
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)


class _Compiled:
    def __init__(self, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self.sql = str(compiled)
        self.params = list(compiled.positiontup or [])
        self.names = [str(column.key) for column in statement.selected_columns]
        # only the few columns whose SQLite value differs from the Python one get converted
        self.conversions = [
            (name, convert)
            for name, column in zip(self.names, statement.selected_columns, strict=True)
            if (convert := _converter(column.type)) is not None
        ]

    def run(self, conn: sqlite3.Connection, **values: Any) -> dict[str, Any] | None:
        row = conn.execute(self.sql, [values[name] for name in self.params]).fetchone()
        if row is None:
            return None
        result = dict(zip(self.names, row, strict=True))
        for name, convert in self.conversions:
            if result[name] is not None:
                result[name] = convert(result[name])
        return result


class SqliteInlineReads:
    """Inline ``sqlite3`` reads; one connection per thread (each event loop lives on one
    thread, and a sqlite3 connection must not be used by two threads at once)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._key_owner = _Compiled(KEY_OWNER_BY_HASH)
        self._key_and_task = _Compiled(_KEY_OWNER_AND_TASK)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # autocommit: every SELECT is its own consistent snapshot, no BEGIN/COMMIT needed
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    async def key_owner(self, secret: str) -> KeyOwner | None:
        row = self._key_owner.run(self._conn(), key_hash=ids.hash_api_key(secret))
        if row is None:
            return None
        return KeyOwner(row["id"], row["account_id"], row["last_used_at"], row["expires_at"])

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        row = self._key_and_task.run(
            self._conn(), key_hash=ids.hash_api_key(secret), task_id=task_id
        )
        return _owner_and_task(row)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def hot_reads_for(db: Database) -> HotReads:
    path = db.engine.url.database
    if db.is_sqlite and path and path != ":memory:":
        return SqliteInlineReads(path)
    return EngineReads(db)


def _owner_and_task(row: dict[str, Any] | None) -> tuple[KeyOwner | None, TaskView | None]:
    if row is None:
        return None, None
    owner = KeyOwner(
        row.pop("key_id"),
        row.pop("key_account_id"),
        row.pop("key_last_used_at"),
        row.pop("key_expires_at"),
    )
    if row["id"] is None:
        return owner, None
    return owner, view_from_row(row)


def _converter(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        return _parse_utc
    if isinstance(column_type, JSON):
        return orjson.loads
    return None


def _parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


__all__: Sequence[str] = ["EngineReads", "HotReads", "SqliteInlineReads", "hot_reads_for"]
