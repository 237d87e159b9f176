"""Waking idle workers when a task enters the queue: LISTEN/NOTIFY on PostgreSQL, a directory
of Unix datagram sockets on SQLite.

A transaction that puts a task in the queue (submit, release, requeue) calls ``notify_queued``.
On PostgreSQL that sends a NOTIFY on ``opendance_tasks``; PostgreSQL delivers it at COMMIT, never
for a rolled-back transaction, so a woken worker always finds the row. A worker listens on one
dedicated asyncpg connection (outside the pool: a listening connection must stay open and must
not be handed to anyone else) and the notification ends its poll wait at once.

SQLite has no notifications. There ``notify_queued`` marks the transaction, and
``Database.write`` sends a datagram to every worker's socket once it has committed (see
``wake_sockets``); a worker binds its socket in the directory next to the database file.

Polling stays as the fallback on both: a lost connection or socket, or a wake-up missed while
reconnecting, costs at most one poll interval. With ``OPENDANCE_QUEUE_NOTIFY=false`` workers do
not listen (one connection fewer per worker on PostgreSQL, e.g. behind a pooler that cannot carry
LISTEN; no socket on SQLite, e.g. on a filesystem without Unix sockets; or to measure what the
wake-ups buy); transactions still send, since the API and other workers may run with other
settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.database import QUEUED_IN_TRANSACTION, Database
from opendance.db.wake_sockets import WakeReceiver, channel_dir

CHANNEL = "opendance_tasks"
RECONNECT_SECONDS = 5.0  # between attempts to get the listening connection back

log = logging.getLogger("opendance.worker")


async def notify_queued(conn: AsyncConnection) -> None:
    """Tell listening workers that a task is queued, when this transaction commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    else:
        # sent by Database.write after the commit: a worker woken earlier would wait on the
        # write lock this transaction holds, then sleep in SQLite's busy handler
        conn.info[QUEUED_IN_TRANSACTION] = True


class QueueListener(Protocol):
    """What a worker needs of a listener: (re)join when it can, and leave at the end."""

    @property
    def listening(self) -> bool: ...

    async def ensure(self) -> None: ...

    async def close(self) -> None: ...


def queue_listener(db: Database, on_notify: Callable[[], None], *, enabled: bool) -> QueueListener:
    """The listener for this database: NOTIFY on PostgreSQL, the wake sockets on SQLite."""
    if db.dialect == "postgresql":
        return TaskListener(db, on_notify, enabled=enabled)
    return SocketListener(db, on_notify, enabled=enabled)


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


class SocketListener:
    """Calls ``on_notify`` when a wake-up arrives on this worker's socket of the SQLite wake
    channel; joins it again when its socket went away (say its directory was removed)."""

    def __init__(
        self, db: Database, on_notify: Callable[[], None], *, enabled: bool = True
    ) -> None:
        directory = channel_dir(db.url)
        self.on_notify = on_notify
        self.enabled = enabled and directory is not None
        self._receiver = WakeReceiver(directory, on_notify) if directory is not None else None
        self._last_attempt = float("-inf")
        self._warned = False

    @property
    def listening(self) -> bool:
        return self._receiver is not None and self._receiver.joined

    async def ensure(self) -> None:
        """Join the channel if not yet (or no longer) in it; failures are logged once, and
        retried after ``RECONNECT_SECONDS`` — meanwhile the worker polls."""
        if not self.enabled or self._receiver is None or self.listening:
            return
        if time.monotonic() - self._last_attempt < RECONNECT_SECONDS:
            return
        self._last_attempt = time.monotonic()
        try:
            self._receiver.open()
        except OSError as exc:
            # e.g. a filesystem without Unix sockets: the same every time, so said once
            level = logging.DEBUG if self._warned else logging.WARNING
            log.log(level, "cannot listen for new tasks (%s); polling instead", exc)
            self._warned = True
            return
        # a wake-up may have been missed while not listening: look at the queue now
        self.on_notify()

    async def close(self) -> None:
        if self._receiver is not None:
            self._receiver.close()
