"""The reads on every request's path: an API key's owner, and a task by id.

Each is one statement in autocommit, with no BEGIN/COMMIT around it (a single SELECT sees one
consistent snapshot on both databases), compiled once from the same SQLAlchemy Core expressions
the rest of the code uses, and run on the driver itself:

- SQLite: inline on the event loop over a plain ``sqlite3`` connection. An indexed lookup takes
  about 10 µs, while the thread hop of the async driver costs ten times that per statement,
  which would cap ``/v1/status`` far below the rest of the stack. Reads in WAL mode never wait
  for writers, so the loop is not blocked behind a transaction; the short busy timeout bounds
  the rare exceptions (WAL recovery). Writes always stay off the loop (they may wait for the
  write lock).
- PostgreSQL: a small pool of plain asyncpg connections beside the engine's, each statement
  prepared once per connection (asyncpg's statement cache). Through the engine a status poll
  took three round trips (BEGIN, the statement, COMMIT) plus SQLAlchemy's layers around each,
  several times the cost of the statement's single round trip.

Nothing is kept between requests: a revoked key, an ended session's key or a deleted task reads
as such at once, whichever process changed it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy import JSON, Select, String, bindparam, func, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect

from opendance.db.accounts import KEY_OWNER_BY_HASH, find_key_owner
from opendance.db.database import Database
from opendance.db.read_batches import ReadBatcher
from opendance.db.tables import api_keys, tasks
from opendance.db.tasks import TASK_VIEW_COLUMNS, view_from_row
from opendance.db.types import UTCDateTime
from opendance.domain import ids
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_view import TaskView

INLINE_BUSY_TIMEOUT_MS = 1000
# Connections of one API process's hot-read pool on PostgreSQL. One event loop drives them, so
# a few already keep the loop busy: each poll holds one for a single round trip.
HOT_READ_CONNECTIONS = 4
HOT_READ_CONNECT_SECONDS = 10.0


class HotReads(Protocol):
    async def key_owner(self, secret: str) -> KeyOwner | None: ...

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        """The key's owner and, if it belongs to that owner's account, the task: one read for
        the whole of an authenticated status poll."""
        ...

    async def close(self) -> None: ...


class EngineReads:
    """Through the async engine (any database; used for an in-memory SQLite)."""

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
                    _KEY_OWNER_AND_TASK,
                    {"key_hash": ids.hash_api_key(secret), "task_id": _storable(task_id)},
                )
            ).first()
        return _owner_and_task(row._asdict() if row else None)

    async def close(self) -> None:
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
    """A statement as the driver of ``dialect`` takes it (SQL text, positional parameters),
    and the conversions its result needs to read as the engine's would."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.params = list(compiled.positiontup or [])
        self.names = [str(column.key) for column in statement.selected_columns]
        # only the few columns whose driver value differs from the Python one get converted
        self.conversions = [
            (name, convert)
            for name, column in zip(self.names, statement.selected_columns, strict=True)
            if (convert := _converter(column.type, dialect.name)) is not None
        ]

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] for name in self.params]

    def decoded(self, row: Sequence[Any] | None) -> dict[str, Any] | None:
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
        dialect = sqlite_dialect.dialect()
        self._key_owner = _Compiled(KEY_OWNER_BY_HASH, dialect)
        self._key_and_task = _Compiled(_KEY_OWNER_AND_TASK, dialect)

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

    def _run(self, compiled: _Compiled, **values: Any) -> dict[str, Any] | None:
        cursor = self._conn().execute(compiled.sql, compiled.arguments(values))
        return compiled.decoded(cursor.fetchone())

    async def key_owner(self, secret: str) -> KeyOwner | None:
        return _owner(self._run(self._key_owner, key_hash=ids.hash_api_key(secret)))

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        row = self._run(
            self._key_and_task, key_hash=ids.hash_api_key(secret), task_id=_storable(task_id)
        )
        return _owner_and_task(row)

    async def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class AsyncpgReads:
    """Plain asyncpg reads on PostgreSQL, batched (``read_batches``): a key lookup is a key and
    task lookup for no task, so both kinds share the batches. One pool and batcher per event
    loop (asyncpg connections belong to the loop that opened them; an API process has one)."""

    def __init__(self, db: Database) -> None:
        self._connect = db.asyncpg_connect_kwargs()
        self._batchers: dict[asyncio.AbstractEventLoop, _Batcher] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Task[_Batcher]] = {}
        dialect = postgresql_dialect.asyncpg.dialect()  # type: ignore[no-untyped-call]
        self._statement = _Compiled(_KEYS_OWNERS_AND_TASKS, dialect)

    async def key_owner(self, secret: str) -> KeyOwner | None:
        row = await self._ask(ids.hash_api_key(secret), None)
        return _owner_and_task(row)[0]

    async def key_owner_and_task(
        self, secret: str, task_id: str
    ) -> tuple[KeyOwner | None, TaskView | None]:
        return _owner_and_task(await self._ask(ids.hash_api_key(secret), _storable(task_id)))

    async def _ask(self, key_hash: str, task_id: str | None) -> dict[str, Any] | None:
        batcher = self._batchers.get(asyncio.get_running_loop()) or await self._open_batcher()
        return await batcher.ask((key_hash, task_id))

    async def _open_batcher(self) -> _Batcher:
        loop = asyncio.get_running_loop()
        opening = self._opening.get(loop)
        if opening is None:
            # the requests that arrive while it opens wait for the same pool
            opening = self._opening[loop] = loop.create_task(self._open())
        try:
            batcher = await asyncio.shield(opening)
        finally:
            if opening.done():
                self._opening.pop(loop, None)  # a failed opening is tried again by the next
        self._batchers[loop] = batcher
        return batcher

    async def _open(self) -> _Batcher:
        pool = await asyncpg.create_pool(
            min_size=1,
            max_size=HOT_READ_CONNECTIONS,
            timeout=HOT_READ_CONNECT_SECONDS,
            # A connection here only ever runs single SELECTs in autocommit: no transaction,
            # LISTEN, lock or setting to undo, so no reset query (a round trip) on release.
            reset=_keep_as_is,
            **self._connect,
        )
        return ReadBatcher(pool, self._send)

    async def _send(
        self, conn: asyncpg.Connection, questions: list[tuple[str, str | None]]
    ) -> list[dict[str, Any] | None]:
        statement = self._statement
        rows = await conn.fetch(
            statement.sql,
            *statement.arguments(
                {
                    "key_hashes": [key_hash for key_hash, _ in questions],
                    "task_ids": [task_id for _, task_id in questions],
                }
            ),
        )
        found = {row[0]: row for row in rows}  # by ordinality: a question without a key has none
        answers = []
        for number in range(1, len(questions) + 1):
            answer = statement.decoded(found.get(number))
            if answer is not None:
                del answer["n"]
            answers.append(answer)
        return answers

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for opening in self._opening.values():
            opening.cancel()
        batchers, self._batchers = self._batchers, {}
        for batcher_loop, batcher in batchers.items():
            if batcher_loop is loop:
                batcher.cancel()
                await batcher.pool.close()
            else:
                batcher.pool.terminate()  # another loop's: it cannot be closed politely here


_Batcher = ReadBatcher[tuple[str, str | None], dict[str, Any] | None]

# The batched form of _KEY_OWNER_AND_TASK: the questions as two arrays, numbered; a question
# whose key is unknown or revoked has no row, one whose task is not the key's account's has
# a row without a task.
_ASKED = (
    func.unnest(
        bindparam("key_hashes", type_=ARRAY(String)), bindparam("task_ids", type_=ARRAY(String))
    )
    .table_valued("key_hash", "task_id", with_ordinality="n")
    .render_derived(name="asked")
)
_KEYS_OWNERS_AND_TASKS = select(
    _ASKED.c.n,
    api_keys.c.id.label("key_id"),
    api_keys.c.account_id.label("key_account_id"),
    api_keys.c.last_used_at.label("key_last_used_at"),
    api_keys.c.expires_at.label("key_expires_at"),
    *TASK_VIEW_COLUMNS,
).select_from(
    _ASKED.join(
        api_keys, (api_keys.c.key_hash == _ASKED.c.key_hash) & api_keys.c.revoked_at.is_(None)
    ).outerjoin(
        tasks,
        (tasks.c.id == _ASKED.c.task_id)
        & (tasks.c.account_id == api_keys.c.account_id)
        & tasks.c.deleted_at.is_(None),
    )
)


async def _keep_as_is(_conn: asyncpg.Connection) -> None:
    pass


def hot_reads_for(db: Database) -> HotReads:
    if db.dialect == "postgresql":
        return AsyncpgReads(db)
    path = db.engine.url.database
    if db.is_sqlite and path and path != ":memory:":
        return SqliteInlineReads(path)
    return EngineReads(db)


def _storable(task_id: str) -> str | None:
    """The task id as the database can take it; None (no task has it) for text no column can
    hold: a NUL byte (PostgreSQL refuses it in text) or a lone surrogate (not UTF-8). Sent as
    is, it would fail its statement, and on PostgreSQL that is the batch of every poll asked
    with it."""
    if "\x00" in task_id:
        return None
    try:
        task_id.encode()
    except UnicodeEncodeError:
        return None
    return task_id


def _owner(row: dict[str, Any] | None) -> KeyOwner | None:
    if row is None:
        return None
    return KeyOwner(row["id"], row["account_id"], row["last_used_at"], row["expires_at"])


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


def _converter(column_type: Any, dialect_name: str) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return orjson.loads  # both drivers hand JSON over as text
    if isinstance(column_type, UTCDateTime) and dialect_name == "sqlite":
        return _parse_utc  # asyncpg already returns aware UTC datetimes for timestamptz
    return None


def _parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


__all__: Sequence[str] = [
    "AsyncpgReads",
    "EngineReads",
    "HotReads",
    "SqliteInlineReads",
    "hot_reads_for",
]
