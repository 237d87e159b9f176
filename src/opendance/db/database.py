"""The database handle: an async engine plus read and write transactions.

On SQLite, a write transaction takes the write lock up front (``BEGIN IMMEDIATE``): a deferred
transaction that reads first and writes later can fail with SQLITE_BUSY half-way, while an
immediate one just waits its turn (busy timeout). WAL lets readers run beside the writer. A
write transaction that queued a task wakes the idle workers once it has committed (the wake
channel of ``wake_sockets``; PostgreSQL's NOTIFY needs no help).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from opendance.db.wake_sockets import WakeSender, channel_dir

Connection = AsyncConnection
"""A connection inside one transaction, as services pass it between the db functions they
call together; only ``db`` looks inside it."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 16
# PostgreSQL ends a session that sits idle inside a transaction for this long. Ours pause
# between statements for a password hash at most, so such a session belongs to a frozen
# process (SIGSTOP, a paused VM, a stuck disk) whose row locks would otherwise hold up everyone
# who needs those rows: a task row's lock stops every worker that reaps the lease the frozen
# worker can no longer renew, for as long as it stays frozen.
PG_IDLE_IN_TRANSACTION_SECONDS = 30.0
_BEGIN_OPTION = "opendance_sqlite_begin"
# set (in the connection's info) by a SQLite transaction that queued a task
QUEUED_IN_TRANSACTION = "opendance_queued"


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite://`` and ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(
        parsed.drivername
    )
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        options: dict[str, Any] = {}
        if make_url(self.url).get_backend_name() == "sqlite":
            # Every aiosqlite connection is a thread; a pool that keeps enough of them open
            # avoids opening (thread + file + PRAGMAs) one per request under concurrency. Our
            # transactions always end in COMMIT or ROLLBACK, so the reset on return would only
            # cost one more thread hop per request.
            options.update(
                pool_size=SQLITE_POOL_SIZE,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,
            )
        else:
            options["connect_args"] = {"server_settings": _pg_server_settings()}
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **options)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        wake_dir = channel_dir(self.url)
        self._wakes = WakeSender(wake_dir) if wake_dir is not None else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both databases)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; on SQLite it holds the write lock from its first statement."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            async with conn.begin():
                # the info lives as long as the pooled connection: a mark left by a
                # transaction that rolled back must not send this one's wake-ups
                conn.info.pop(QUEUED_IN_TRANSACTION, None)
                yield conn
            if conn.info.pop(QUEUED_IN_TRANSACTION, False) and self._wakes is not None:
                self._wakes.send()

    def asyncpg_connect_kwargs(self) -> dict[str, Any]:
        """What the engine hands ``asyncpg.connect`` (host, port, user, password, database, the
        URL's options, the session settings), for plain asyncpg connections beside the pool."""
        _args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        cache_size = kwargs.pop("prepared_statement_cache_size", None)
        if cache_size is not None:
            # the operator's word on prepared statements (0 behind a pooler in transaction
            # mode) holds for these connections too: asyncpg's own cache takes the same size
            kwargs["statement_cache_size"] = int(cache_size)
        for name in _SQLALCHEMY_ONLY_OPTIONS:
            kwargs.pop(name, None)
        return {**kwargs, "server_settings": _pg_server_settings()}

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._wakes is not None:
            self._wakes.close()


# URL options that SQLAlchemy's asyncpg dialect takes for itself rather than passing on
_SQLALCHEMY_ONLY_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def _pg_server_settings() -> dict[str, str]:
    timeout_ms = str(round(PG_IDLE_IN_TRANSACTION_SECONDS * 1000))
    return {"idle_in_transaction_session_timeout": timeout_ms}


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit survives power loss too. An accepted (and charged) task must not
        # vanish; in WAL mode this costs one fsync of the log per commit.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))
