"""A worker's entry in the registry of running workers: registered at start, kept fresh while
it runs (what /readyz and the API's capacity check read), removed when it stops."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence

from opendance.db import workers as worker_rows
from opendance.domain.capabilities import EngineCapabilities
from opendance.services.context import AppContext


async def register(
    ctx: AppContext,
    worker_id: str,
    *,
    engine: str,
    model: str | None,
    capabilities: EngineCapabilities,
    concurrency: int,
) -> None:
    """Enter this process as a worker that is loading its engine."""
    async with ctx.db.write() as conn:
        await worker_rows.register_worker(
            conn,
            id=worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            engine=engine,
            model=model,
            audio=capabilities.audio,
            image_to_video=capabilities.image_to_video,
            concurrency=concurrency,
            state="loading",
        )


async def report(
    ctx: AppContext, worker_id: str, now: Callable[[], tuple[str, Sequence[str]]]
) -> None:
    """Alive, with the state and tasks in hand (oldest claim first) that ``now()`` tells. It
    is asked once the write transaction has begun: reports of sibling slots wait for the write
    lock in turn, and the one written last must tell the latest state, not the state from
    before its wait."""
    async with ctx.db.write() as conn:
        state, in_hand = now()
        await worker_rows.worker_seen(conn, worker_id, state=state, in_hand=in_hand)


async def unregister(ctx: AppContext, worker_id: str) -> None:
    async with ctx.db.write() as conn:
        await worker_rows.unregister_worker(conn, worker_id)
