"""Direct looks at the database, for assertions about state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from opendance.db import accounts as account_rows
from opendance.db.tables import accounts, ledger, tasks
from opendance.services.context import AppContext


async def snapshot(ctx: AppContext) -> dict[str, Any]:
    """Everything a rejected request must leave unchanged."""
    async with ctx.db.read() as conn:
        balances = {r.name: r.balance for r in await conn.execute(select(accounts))}
        task_count = (await conn.execute(select(func.count()).select_from(tasks))).scalar_one()
        ledger_rows = (await conn.execute(select(func.count()).select_from(ledger))).scalar_one()
    return {"balances": balances, "tasks": task_count, "ledger": ledger_rows}


async def balance(ctx: AppContext, name: str) -> int:
    async with ctx.db.read() as conn:
        return (await account_rows.get_account_by_name(conn, name)).balance


async def ledger_consistent(ctx: AppContext) -> bool:
    """Every account's balance equals the sum of its ledger."""
    async with ctx.db.read() as conn:
        for account in await account_rows.list_accounts(conn):
            if await account_rows.ledger_sum(conn, account.id) != account.balance:
                return False
    return True
