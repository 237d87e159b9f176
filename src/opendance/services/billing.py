"""Charging and refunding. A task is charged once, when it is created, and refunded exactly once
if it ends FAILED: the refund is written in the same transaction that makes it FAILED, and the
ledger's unique (task_id, kind) makes a second one impossible."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db import accounts as account_rows
from opendance.db import tasks as task_rows
from opendance.db.tasks import Lease, TaskRecord


async def fail_and_refund(
    conn: AsyncConnection, task: TaskRecord, message: str, *, lease: Lease | None = None
) -> bool:
    """Mark the task FAILED and refund its price; False if it was no longer ours to fail."""
    if not await task_rows.fail(conn, task.id, message, lease=lease):
        return False
    await _refund(conn, task)
    return True


async def fail_expired_and_refund(conn: AsyncConnection, task: TaskRecord, message: str) -> bool:
    if not await task_rows.fail_expired(conn, task, message):
        return False
    await _refund(conn, task)
    return True


async def _refund(conn: AsyncConnection, task: TaskRecord) -> None:
    await account_rows.add_ledger_entry(
        conn, account_id=task.account_id, kind="refund", amount=task.price, task_id=task.id
    )
