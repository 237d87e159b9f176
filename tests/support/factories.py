"""Factories for accounts and tasks straight through the services, on a real database."""

from __future__ import annotations

from typing import Any

from opendance.db import accounts as account_rows
from opendance.domain.accounts import KeyOwner
from opendance.services import admin
from opendance.services.context import AppContext
from opendance.services.submit import submit_generate


async def account_with_key(ctx: AppContext, name: str, credits: int = 1000) -> KeyOwner:
    await admin.create_account(ctx, name, credits)
    return await owner_of(ctx, (await admin.create_key(ctx, name)).secret)


async def submit(ctx: AppContext, owner: KeyOwner, **fields: Any) -> str:
    body = {"prompt": "a red kite over green hills", "resolution": "480p", "duration": 4}
    body.update(fields)
    return await submit_generate(ctx, owner, body)


async def owner_of(ctx: AppContext, secret: str) -> KeyOwner:
    async with ctx.db.read() as conn:
        owner = await account_rows.find_key_owner(conn, secret)
    assert owner is not None
    return owner
