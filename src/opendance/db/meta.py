"""The meta table: settings the processes of one deployment share through the database."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from opendance.db.database import Database
from opendance.db.tables import meta


async def shared_value(db: Database, key: str, make: Callable[[], str]) -> str:
    """The value stored under ``key``, made with ``make`` and stored on first use. When several
    processes start at once, the first insert wins and every process reads that one."""
    stored = select(meta.c.value).where(meta.c.key == key)
    async with db.read() as conn:
        value = (await conn.execute(stored)).scalar_one_or_none()
    if value is None:
        with contextlib.suppress(IntegrityError):  # another process made it first
            async with db.write() as conn:
                await conn.execute(insert(meta).values(key=key, value=make()))
        async with db.read() as conn:
            value = (await conn.execute(stored)).scalar_one()
    return str(value)
