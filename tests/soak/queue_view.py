"""The queue as the database shows it, for the soak's chaos and checks (read from outside the
fleet, on a connection of the test's own)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from opendance.db import tasks as task_rows
from opendance.db.database import Database
from opendance.db.tables import tasks, workers
from opendance.db.tasks import TaskRecord
from opendance.domain.task_states import TaskState


@dataclass(frozen=True)
class HeldLease:
    """A task a live worker is running right now."""

    worker_id: str
    pid: int
    task_id: str
    token: int
    progress: int


class QueueView:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def counts(self) -> Counter[str]:
        query = select(tasks.c.status, func.count()).group_by(tasks.c.status)
        async with self.db.read() as conn:
            return Counter({status: n for status, n in await conn.execute(query)})

    async def terminal(self) -> int:
        counts = await self.counts()
        return counts[TaskState.SUCCEEDED.value] + counts[TaskState.FAILED.value]

    async def wait_terminal(self, at_least: int, *, stalled_after: float = 180) -> None:
        """Until ``at_least`` tasks are finished; fails when none finishes for a while."""
        last, since = -1, time.monotonic()
        while (done := await self.terminal()) < at_least:
            if done != last:
                last, since = done, time.monotonic()
            assert time.monotonic() - since < stalled_after, (
                f"no task finished for {stalled_after:g} s: {await self.counts()}"
            )
            await asyncio.sleep(0.5)

    async def held_leases(self) -> list[HeldLease]:
        """Running tasks whose lease owner is a registered worker that names it as current."""
        query = select(
            workers.c.id, workers.c.pid, tasks.c.id, tasks.c.lease_token, tasks.c.progress
        ).where(
            workers.c.current_task_id == tasks.c.id,
            tasks.c.lease_owner == workers.c.id,
            tasks.c.status == TaskState.RUNNING.value,
        )
        async with self.db.read() as conn:
            return [HeldLease(*row) for row in await conn.execute(query)]

    async def lease_of_pid(self, pid: int) -> tuple[str, int] | None:
        """The task (and fencing token) a worker process holds, if any."""
        query = select(tasks.c.id, tasks.c.lease_token).where(
            tasks.c.lease_owner == workers.c.id,
            workers.c.pid == pid,
            tasks.c.status == TaskState.RUNNING.value,
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return (row[0], row[1]) if row else None

    async def task(self, task_id: str) -> TaskRecord:
        async with self.db.read() as conn:
            found = await task_rows.get_task(conn, task_id)
        assert found is not None, task_id
        return found

    async def still_held_and_unlocked(self, lease: HeldLease) -> bool:
        """The lease is unchanged and no transaction holds the task's row. A worker frozen in
        the middle of a heartbeat's transaction holds the row lock until PostgreSQL ends its
        session (``PG_IDLE_IN_TRANSACTION_SECONDS``); the soak freezes a worker while it
        renders."""
        query = (
            select(tasks.c.lease_token, tasks.c.lease_owner, tasks.c.status)
            .where(tasks.c.id == lease.task_id)
            .with_for_update(nowait=True)
        )
        try:
            async with self.db.write() as conn:
                row = (await conn.execute(query)).one()
        except DBAPIError:  # the row lock is taken: LockNotAvailable
            return False
        return (row[0], row[1], row[2]) == (lease.token, lease.worker_id, "running")

    async def wait_task(self, task_id: str, done: Callable[[TaskRecord], bool]) -> TaskRecord:
        while not done(task := await self.task(task_id)):  # noqa: ASYNC110 - a row
            await asyncio.sleep(0.2)
        return task
