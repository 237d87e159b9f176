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

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Select, bindparam, select
from sqlalchemy.dialects import sqlite as sqlite_dialect

from opendance.db.accounts import KeyOwner, find_key_owner
from opendance.db.database import Database
from opendance.db.tables import api_keys, tasks
from opendance.db.tasks import TaskRecord, get_task_of_account
from opendance.db.types import UTCDateTime
from opendance.domain import ids
from opendance.domain.task_states import TaskState

INLINE_BUSY_TIMEOUT_MS = 1000


class HotReads(Protocol):
    async def key_owner(self, secret: str) -> KeyOwner | None: ...

    async def task_of_account(self, task_id: str, account_id: str) -> TaskRecord | None: ...

    def close(self) -> None: ...


class EngineReads:
    """Through the async engine (PostgreSQL, or any database)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def key_owner(self, secret: str) -> KeyOwner | None:
        async with self.db.read() as conn:
            return await find_key_owner(conn, secret)

    async def task_of_account(self, task_id: str, account_id: str) -> TaskRecord | None:
        async with self.db.read() as conn:
            return await get_task_of_account(conn, task_id, account_id)

    def close(self) -> None:
        pass


_KEY_OWNER = select(api_keys.c.id, api_keys.c.account_id, api_keys.c.last_used_at).where(
    api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None)
)
_TASK_OF_ACCOUNT = select(tasks).where(
    tasks.c.id == bindparam("task_id"), tasks.c.account_id == bindparam("account_id")
)


class _Compiled:
    def __init__(self, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self.sql = str(compiled)
        self.params = list(compiled.positiontup or [])
        self.converters = [_converter(column.type) for column in statement.selected_columns]
        self.names = [str(column.key) for column in statement.selected_columns]

    def run(self, conn: sqlite3.Connection, **values: Any) -> dict[str, Any] | None:
        row = conn.execute(self.sql, [values[name] for name in self.params]).fetchone()
        if row is None:
            return None
        return {
            name: convert(value) if value is not None else None
            for name, convert, value in zip(self.names, self.converters, row, strict=True)
        }


class SqliteInlineReads:
    """Inline ``sqlite3`` reads; one connection per thread (each event loop lives on one
    thread, and a sqlite3 connection must not be used by two threads at once)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._key_owner = _Compiled(_KEY_OWNER)
        self._task = _Compiled(_TASK_OF_ACCOUNT)

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
        return KeyOwner(row["id"], row["account_id"], row["last_used_at"]) if row else None

    async def task_of_account(self, task_id: str, account_id: str) -> TaskRecord | None:
        row = self._task.run(self._conn(), task_id=task_id, account_id=account_id)
        if row is None:
            return None
        row["status"] = TaskState(row["status"])
        return TaskRecord(**row)

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


def _converter(column_type: Any) -> Callable[[Any], Any]:
    if isinstance(column_type, UTCDateTime):
        return _parse_utc
    if isinstance(column_type, JSON):
        return json.loads
    return _identity


def _parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _identity(value: Any) -> Any:
    return value


__all__: Sequence[str] = ["EngineReads", "HotReads", "SqliteInlineReads", "hot_reads_for"]
