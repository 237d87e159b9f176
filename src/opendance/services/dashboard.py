"""What a signed-in user may do with their own account: keys, credits, tasks, webhooks.

Every function takes the account id of the session and never touches another account's rows;
an id that belongs to someone else is answered like an unknown one.
"""

from __future__ import annotations

from typing import Any

from opendance.db import account_history
from opendance.db import accounts as account_rows
from opendance.db import deliveries as delivery_rows
from opendance.db.account_history import Page
from opendance.db.accounts import ApiKeyRecord, LedgerEntry
from opendance.domain.task_filter import ALL_TASKS, TaskFilter
from opendance.domain.task_states import PUBLIC_STATUS_STATES
from opendance.domain.task_view import TaskView
from opendance.errors import AdminError, TaskNotFound
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.delivery_log import deliveries_view
from opendance.services.webhook_secrets import AccountSecrets, account_secrets, rotate_secret

PER_PAGE = 20
MAX_KEY_NAME = 100


async def keys_of(ctx: AppContext, account_id: str) -> list[ApiKeyRecord]:
    """Active keys first (newest first), then revoked ones."""
    async with ctx.db.read() as conn:
        keys = await account_rows.list_keys(conn, account_id)
    return sorted(keys, key=lambda k: (k.revoked_at is not None, -k.created_at.timestamp()))


async def create_key(ctx: AppContext, account_id: str, name: str) -> tuple[str, ApiKeyRecord]:
    name = name.strip()
    if len(name) > MAX_KEY_NAME:
        raise AdminError(f"a key name must be at most {MAX_KEY_NAME} characters")
    async with ctx.db.write() as conn:
        return await account_rows.create_key(conn, account_id, name or None)


async def revoke_key(ctx: AppContext, account_id: str, key_id: str) -> ApiKeyRecord:
    async with ctx.db.write() as conn:
        mine = {k.id for k in await account_rows.list_keys(conn, account_id)}
        if key_id not in mine:
            raise AdminError("no such key")
        return await account_rows.revoke_key(conn, key_id)


async def ledger_page(ctx: AppContext, account_id: str, number: int) -> Page[LedgerEntry]:
    async with ctx.db.read() as conn:
        return await account_history.ledger_page(
            conn, account_id, number=max(1, number), per_page=PER_PAGE
        )


async def task_page(
    ctx: AppContext, account_id: str, public_status: str | None, number: int
) -> Page[TaskView]:
    """A page of the account's tasks, newest first, whichever door they came through; those
    with a public status (IN_PROGRESS, SUCCESS, FAILED) only, given one. Never a deleted one."""
    which = ALL_TASKS
    if public_status in PUBLIC_STATUS_STATES:
        which = TaskFilter(statuses=frozenset(PUBLIC_STATUS_STATES[public_status]))
    number = max(1, number)
    found = await tasks.list_tasks(
        ctx, account_id, which, limit=PER_PAGE, offset=(number - 1) * PER_PAGE
    )
    total = await tasks.count_tasks(ctx, account_id, which)
    return Page(found.tasks, number, PER_PAGE, total)


async def task_of(ctx: AppContext, account_id: str, task_id: str) -> TaskView | None:
    """The account's task; None for an unknown, another account's or a deleted one alike."""
    try:
        return await tasks.get(ctx, account_id, task_id)
    except TaskNotFound:
        return None


async def webhook_secrets(ctx: AppContext, account_id: str) -> AccountSecrets:
    async with ctx.db.write() as conn:  # creates the first secret on first use
        return await account_secrets(conn, account_id)


async def rotate_webhook_secret(ctx: AppContext, account_name: str) -> AccountSecrets:
    return await rotate_secret(ctx, account_name)


async def deliveries_of(ctx: AppContext, account_id: str) -> list[dict[str, Any]]:
    return await deliveries_view(ctx, account_id=account_id)


async def redeliver(ctx: AppContext, account_id: str, delivery_id: str) -> None:
    async with ctx.db.write() as conn:
        owner = await account_history.delivery_account(conn, delivery_id)
        if owner != account_id or not await delivery_rows.redeliver(conn, delivery_id):
            raise AdminError("no such webhook delivery")
