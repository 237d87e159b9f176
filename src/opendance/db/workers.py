"""The registry of running workers: who is alive (for /readyz), what each can do (for the
API's checks at submit) and what each is doing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import workers
from opendance.db.types import db_now
from opendance.domain.capabilities import EngineCapabilities, FleetOffer


async def register_worker(conn: AsyncConnection, **values: Any) -> None:
    now = db_now(conn)
    await conn.execute(delete(workers).where(workers.c.id == values["id"]))
    await conn.execute(insert(workers).values(started_at=now, last_seen_at=now, **values))


async def worker_seen(
    conn: AsyncConnection, worker_id: str, *, state: str, in_hand: Sequence[str] = ()
) -> None:
    """Report the worker alive, with the tasks it holds (oldest claim first)."""
    await conn.execute(
        update(workers)
        .where(workers.c.id == worker_id)
        .values(
            last_seen_at=db_now(conn),
            state=state,
            tasks_in_hand=len(in_hand),
            current_task_id=in_hand[0] if in_hand else None,
        )
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


async def fleet_capabilities(
    conn: AsyncConnection, *, seen_within: float, ready_only: bool = False
) -> FleetOffer | None:
    """The kinds of worker seen within ``seen_within`` seconds (a task is served if any one of
    them can serve it); None when no worker has been seen. Loading workers count
    unless ``ready_only``: their tasks wait in the queue until the model is up."""
    since = db_now(conn) - timedelta(seconds=seen_within)
    query = (
        select(workers.c.audio, workers.c.image_to_video)
        .distinct()
        .where(workers.c.last_seen_at >= since)
    )
    if ready_only:
        query = query.where(workers.c.state != "loading")
    kinds = (await conn.execute(query)).all()
    if not kinds:
        return None
    return FleetOffer(
        frozenset(EngineCapabilities(audio=k.audio, image_to_video=k.image_to_video) for k in kinds)
    )


async def forget_silent_workers(conn: AsyncConnection, *, silent_for: float) -> int:
    """Drop the rows of workers that died without unregistering (SIGKILL, power loss)."""
    since = db_now(conn) - timedelta(seconds=silent_for)
    result = await conn.execute(delete(workers).where(workers.c.last_seen_at < since))
    return result.rowcount
