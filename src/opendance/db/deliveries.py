"""The webhook outbox: delivery rows written with the task's terminal transition, claimed by
dispatchers with a fencing token, and every attempt recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import webhook_attempts, webhook_deliveries
from opendance.db.types import db_now, utcnow

PENDING, DELIVERED, FAILED, STOPPED = "pending", "delivered", "failed", "stopped"


@dataclass(frozen=True)
class Delivery:
    id: str
    task_id: str
    account_id: str
    url: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    claim_token: int
    claim_expires_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Delivery:
        return cls(**row._asdict())


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to; ``status`` and ``next_attempt_at`` are the delivery's next."""

    status: str
    next_attempt_at: datetime
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


async def enqueue(
    conn: AsyncConnection,
    *,
    delivery_id: str,
    task_id: str,
    account_id: str,
    url: str,
    payload: str,
) -> None:
    now = utcnow()
    await conn.execute(
        insert(webhook_deliveries).values(
            id=delivery_id,
            task_id=task_id,
            account_id=account_id,
            url=url,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            claim_token=0,
            created_at=now,
            updated_at=now,
        )
    )


async def claim_due(
    conn: AsyncConnection, *, owner: str, limit: int, claim_seconds: float
) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries that nobody holds (or whose claim ran out)."""
    now = db_now(conn)
    due = [
        webhook_deliveries.c.status == PENDING,
        webhook_deliveries.c.next_attempt_at <= now,
        (webhook_deliveries.c.claim_expires_at.is_(None))
        | (webhook_deliveries.c.claim_expires_at < now),
    ]
    ids = (
        select(webhook_deliveries.c.id)
        .where(*due)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(ids), *due)
        .values(
            claimed_by=owner,
            claim_token=webhook_deliveries.c.claim_token + 1,
            claim_expires_at=now + timedelta(seconds=claim_seconds),
            updated_at=now,
        )
        .returning(*webhook_deliveries.c)
    )
    return [Delivery.from_row(r) for r in rows]


async def record(conn: AsyncConnection, delivery: Delivery, outcome: Outcome) -> bool:
    """Store an attempt's outcome if this dispatcher still holds the claim it made."""
    attempt = delivery.attempts + 1
    result = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery.id,
            webhook_deliveries.c.claim_token == delivery.claim_token,
            webhook_deliveries.c.status == PENDING,
        )
        .values(
            status=outcome.status,
            attempts=attempt,
            next_attempt_at=outcome.next_attempt_at,
            claimed_by=None,
            claim_expires_at=None,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            updated_at=utcnow(),
            delivered_at=utcnow() if outcome.status == DELIVERED else None,
        )
    )
    if result.rowcount != 1:
        return False
    await conn.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery.id,
            attempt=attempt,
            started_at=outcome.started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error,
        )
    )
    return True


async def deliveries_of_task(conn: AsyncConnection, task_id: str) -> list[Delivery]:
    rows = await conn.execute(
        select(webhook_deliveries).where(webhook_deliveries.c.task_id == task_id)
    )
    return [Delivery.from_row(r) for r in rows]


async def attempts_of(conn: AsyncConnection, delivery_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id == delivery_id)
        .order_by(webhook_attempts.c.attempt)
    )
    return [r._asdict() for r in rows]


async def list_deliveries(
    conn: AsyncConnection,
    *,
    account_id: str | None = None,
    task_id: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    query = select(webhook_deliveries).order_by(webhook_deliveries.c.created_at.desc())
    if account_id is not None:
        query = query.where(webhook_deliveries.c.account_id == account_id)
    if task_id is not None:
        query = query.where(webhook_deliveries.c.task_id == task_id)
    return [Delivery.from_row(r) for r in await conn.execute(query.limit(limit))]


async def redeliver(conn: AsyncConnection, delivery_id: str) -> bool:
    """Make a finished delivery due again (one more attempt, same webhook-id)."""
    now = utcnow()
    result = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(
            status=PENDING,
            next_attempt_at=now,
            claimed_by=None,
            claim_expires_at=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1
