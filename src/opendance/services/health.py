"""Readiness: can this process serve, and will submitted tasks be worked on?"""

from __future__ import annotations

from typing import Any

from opendance import errors
from opendance.db import tasks as task_rows
from opendance.db import workers as worker_rows
from opendance.domain.capabilities import FleetOffer
from opendance.services.context import AppContext


async def readiness(ctx: AppContext) -> dict[str, Any]:
    """The database answers and a worker reported recently; raises ``NotReady`` otherwise."""
    try:
        async with ctx.db.read() as conn:
            workers = await worker_rows.live_workers(
                conn, seen_within=ctx.settings.worker_seen_seconds
            )
            serving = await worker_rows.fleet_capabilities(
                conn, seen_within=ctx.settings.worker_seen_seconds, ready_only=True
            )
            queued = await task_rows.queue_depth(conn)
    except Exception:
        raise errors.NotReady("the database is not reachable") from None
    if workers == 0:
        raise errors.NotReady(
            f"no worker has reported in the last {ctx.settings.worker_seen_seconds:g} s; "
            f"{queued} task(s) wait in the queue"
        )
    # what the ready workers serve now (a loading worker's options are accepted, and wait)
    ready = serving or FleetOffer.of()
    return {
        "database": "ok",
        "workers": workers,
        "queued": queued,
        "audio": ready.audio,
        "image_to_video": ready.image_to_video,
    }
