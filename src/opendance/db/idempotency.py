"""Idempotency keys: which task an account's ``Idempotency-Key`` created, and from what request.

A key is recorded in the transaction that creates its task, before the charge: of several
requests racing with one key, the first to insert it wins and the others' transactions (their
task and charge with them) roll back. ``ON CONFLICT DO NOTHING`` keeps PostgreSQL's transaction
usable after losing that race, so the loser can roll back on its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import idempotency_keys
from opendance.db.types import db_now


@dataclass(frozen=True)
class RecordedKey:
    fingerprint: str
    task_id: str
    created_at: datetime


async def find(
    conn: AsyncConnection, account_id: str, key: str, *, max_age: timedelta
) -> RecordedKey | None:
    """The key's record, unless it is older than ``max_age`` (then it is as good as unused)."""
    row = (
        await conn.execute(
            select(
                idempotency_keys.c.fingerprint,
                idempotency_keys.c.task_id,
                idempotency_keys.c.created_at,
            ).where(
                idempotency_keys.c.account_id == account_id,
                idempotency_keys.c.key == key,
                idempotency_keys.c.created_at >= db_now(conn) - max_age,
            )
        )
    ).first()
    return RecordedKey(row.fingerprint, row.task_id, row.created_at) if row else None


async def record(
    conn: AsyncConnection,
    *,
    account_id: str,
    key: str,
    fingerprint: str,
    task_id: str,
    max_age: timedelta,
) -> bool:
    """Record that ``key`` created ``task_id``; False if the key is taken (and not expired)."""
    now = db_now(conn)
    # an expired record of this key frees it
    await conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.account_id == account_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at < now - max_age,
        )
    )
    values = {
        "account_id": account_id,
        "key": key,
        "fingerprint": fingerprint,
        "task_id": task_id,
        "created_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(idempotency_keys).values(**values).on_conflict_do_nothing()
    )
    return result.rowcount == 1


async def forget_expired(conn: AsyncConnection, *, max_age: timedelta) -> int:
    """Drop the records older than ``max_age``; how many."""
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < db_now(conn) - max_age)
    )
    return result.rowcount
