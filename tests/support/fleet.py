"""Worker rows as a fleet writes them, for tests of what the API accepts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from opendance.db import workers as worker_rows
from opendance.db.tables import workers
from opendance.db.types import utcnow
from opendance.services.context import AppContext


async def register(
    ctx: AppContext,
    worker_id: str,
    *,
    audio: bool,
    image_to_video: bool,
    state: str = "idle",
    engine: str = "preview",
) -> None:
    async with ctx.db.write() as conn:
        await worker_rows.register_worker(
            conn,
            id=worker_id,
            hostname="test-host",
            pid=1,
            engine=engine,
            audio=audio,
            image_to_video=image_to_video,
            state=state,
        )


async def silence(ctx: AppContext, worker_id: str, *, seconds: float) -> None:
    """Make a worker's last report ``seconds`` old, as if it died that long ago."""
    async with ctx.db.write() as conn:
        await conn.execute(
            update(workers)
            .where(workers.c.id == worker_id)
            .values(last_seen_at=utcnow() - timedelta(seconds=seconds))
        )
