"""An account's own history, page by page: its ledger (the dashboard's reads); its tasks are
the task service's (``services.tasks.list_tasks``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.accounts import LedgerEntry
from opendance.db.tables import ledger, webhook_deliveries

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int  # 1-based
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


async def ledger_page(
    conn: AsyncConnection, account_id: str, *, number: int, per_page: int
) -> Page[LedgerEntry]:
    mine = ledger.c.account_id == account_id
    total = int((await conn.execute(select(func.count()).where(mine))).scalar_one())
    rows = await conn.execute(
        select(ledger)
        .where(mine)
        .order_by(ledger.c.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    )
    entries = [
        LedgerEntry(r.id, r.account_id, r.task_id, r.kind, r.amount, r.note, r.created_at)
        for r in rows
    ]
    return Page(entries, number, per_page, total)


async def delivery_account(conn: AsyncConnection, delivery_id: str) -> str | None:
    """The account a webhook delivery belongs to (None for an unknown id)."""
    row = (
        await conn.execute(
            select(webhook_deliveries.c.account_id).where(webhook_deliveries.c.id == delivery_id)
        )
    ).first()
    return str(row.account_id) if row else None
