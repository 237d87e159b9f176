"""Deliveries and their attempts, as operators (CLI) and account users (HTTP) see them."""

from __future__ import annotations

from typing import Any

from opendance.db import accounts as account_rows
from opendance.db import deliveries as delivery_rows
from opendance.errors import AdminError
from opendance.services.context import AppContext
from opendance.services.status import iso_utc


async def deliveries_view(
    ctx: AppContext,
    *,
    account_id: str | None = None,
    account_name: str | None = None,
    task_id: str | None = None,
) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        if account_name is not None:
            account_id = (await account_rows.get_account_by_name(conn, account_name)).id
        found = await delivery_rows.list_deliveries(conn, account_id=account_id, task_id=task_id)
        return [
            {
                "id": d.id,
                "task_id": d.task_id,
                "url": d.url,
                "status": d.status,
                "attempts": [
                    {
                        "attempt": a["attempt"],
                        "at": iso_utc(a["started_at"]),
                        "duration_ms": a["duration_ms"],
                        "status_code": a["status_code"],
                        "error": a["error"],
                    }
                    for a in await delivery_rows.attempts_of(conn, d.id)
                ],
                "next_attempt_at": iso_utc(d.next_attempt_at) if d.status == "pending" else None,
                "created_at": iso_utc(d.created_at),
                "delivered_at": iso_utc(d.delivered_at) if d.delivered_at else None,
            }
            for d in found
        ]


async def redeliver(ctx: AppContext, delivery_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await delivery_rows.redeliver(conn, delivery_id):
            raise AdminError(f"no webhook delivery with id {delivery_id!r}")
