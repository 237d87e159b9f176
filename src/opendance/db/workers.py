"""The registry of running workers: who is alive (for /readyz) and what each is doing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import workers
from opendance.db.types import db_now


async def register_worker(conn: AsyncConnection, **values: Any) -> None:
    now = db_now(conn)
    await conn.execute(delete(workers).where(workers.c.id == values["id"]))
    await conn.execute(insert(workers).values(started_at=now, last_seen_at=now, **values))


async def worker_seen(
    conn: AsyncConnection, worker_id: str, *, state: str, current_task_id: str | None
) -> None:
    await conn.execute(
        update(workers)
        .where(workers.c.id == worker_id)
        .values(last_seen_at=db_now(conn), state=state, current_task_id=current_task_id)
    )


async def unregister_worker(conn: AsyncConnection, worker_id: str) -> None:
    await conn.execute(delete(workers).where(workers.c.id == worker_id))


async def live_workers(conn: AsyncConnection, *, seen_within: float) -> int:
    """Workers that reported recently and can take tasks (not still loading their model)."""
    since = db_now(conn) - timedelta(seconds=seen_within)
    query = (
        select(func.count())
        .select_from(workers)
        .where(workers.c.last_seen_at >= since, workers.c.state != "loading")
    )
    return int((await conn.execute(query)).scalar_one())


async def forget_silent_workers(conn: AsyncConnection, *, silent_for: float) -> int:
    """Drop the rows of workers that died without unregistering (SIGKILL, power loss)."""
    since = db_now(conn) - timedelta(seconds=silent_for)
    result = await conn.execute(delete(workers).where(workers.c.last_seen_at < since))
    return result.rowcount
