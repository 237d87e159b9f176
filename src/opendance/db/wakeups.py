"""Waking idle workers when a task enters the queue: LISTEN/NOTIFY on PostgreSQL.

A transaction that puts a task in the queue (submit, release, requeue) also sends a NOTIFY on
``opendance_tasks``; PostgreSQL delivers it at COMMIT, never for a rolled-back transaction, so a
woken worker always finds the row. A worker listens on one dedicated asyncpg connection (outside
the pool: a listening connection must stay open and must not be handed to anyone else) and the
notification ends its poll wait at once. Polling stays as the fallback: a lost connection, or a
notification missed while reconnecting, costs at most one poll interval. SQLite has no
notifications; its workers poll. With ``OPENDANCE_QUEUE_NOTIFY=false`` workers do not listen
either (one connection fewer per worker, e.g. behind a pooler that cannot carry LISTEN, or to
measure what the notifications buy); transactions still send the NOTIFY, since the API and
other workers may run with other settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.database import Database

CHANNEL = "opendance_tasks"
RECONNECT_SECONDS = 5.0  # between attempts to get the listening connection back

log = logging.getLogger("opendance.worker")


async def notify_queued(conn: AsyncConnection) -> None:
    """Tell listening workers that a task is queued, when this transaction commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class TaskListener:
    """Calls ``on_notify`` on every NOTIFY of the queue channel; reconnects when needed."""

    def __init__(
        self, db: Database, on_notify: Callable[[], None], *, enabled: bool = True
    ) -> None:
        self.url = make_url(db.url).set(drivername="postgresql").render_as_string(False)
        self.on_notify = on_notify
        self.enabled = enabled and db.dialect == "postgresql"
        self._conn: asyncpg.Connection | None = None
        self._last_attempt = float("-inf")

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def ensure(self) -> None:
        """Listen if not yet (or no longer) listening; failures are logged, and retried after
        ``RECONNECT_SECONDS`` — meanwhile the worker polls."""
        if not self.enabled or self.listening:
            return
        if time.monotonic() - self._last_attempt < RECONNECT_SECONDS:
            return
        self._last_attempt = time.monotonic()
        try:
            conn = await asyncpg.connect(self.url, timeout=10)
            await conn.add_listener(CHANNEL, self._received)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot listen for new tasks (%s); polling instead", exc)
            return
        self._conn = conn
        # a notification may have been missed while not listening: look at the queue now
        self.on_notify()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                conn.terminate()

    def _received(self, *_args: object) -> None:
        self.on_notify()
