"""Operator grants and take-backs of credits, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from opendance.bootstrap import open_context
from opendance.db.tables import accounts
from opendance.errors import AdminError
from opendance.services import admin
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.support.db import balance, ledger_consistent


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def test_concurrent_take_backs_never_overdraw_and_each_gets_an_answer(
    ctx: AppContext,
) -> None:
    await admin.create_account(ctx, "acme", 100)
    results = await asyncio.gather(
        *(admin.grant_credits(ctx, "acme", -30, "take back") for _ in range(10)),
        return_exceptions=True,
    )
    taken = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(taken) == 3
    assert all(isinstance(r, AdminError) for r in refused), refused
    assert all("cannot take 30 credits" in str(r) for r in refused)
    assert await balance(ctx, "acme") == 10
    assert await ledger_consistent(ctx)


async def test_amounts_and_balances_stay_within_what_the_database_holds(
    ctx: AppContext,
) -> None:
    for credits in (-1, 10**15 + 1, 10**25):
        with pytest.raises(AdminError, match="credits must be"):
            await admin.create_account(ctx, "too-much", credits)
    await admin.create_account(ctx, "acme", 10**15)
    for amount in (10**15 + 1, -(10**15) - 1, 10**25, -(10**25)):
        with pytest.raises(AdminError, match="at most"):
            await admin.grant_credits(ctx, "acme", amount)
    async with ctx.db.write() as conn:
        await conn.execute(update(accounts).values(balance=admin.MAX_BALANCE - 5))
    with pytest.raises(AdminError, match="balance"):
        await admin.grant_credits(ctx, "acme", 10)
    assert await balance(ctx, "acme") == admin.MAX_BALANCE - 5
