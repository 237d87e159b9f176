"""Operator use cases behind the admin CLI: accounts, API keys, credits."""

from __future__ import annotations

from dataclasses import dataclass

from opendance.db import accounts as account_rows
from opendance.db.accounts import Account, ApiKeyRecord, LedgerEntry, NewLedgerEntry
from opendance.errors import AdminError
from opendance.services.context import AppContext

DEMO_ACCOUNT = "demo"
DEMO_CREDITS = 1000
# Far above any real grant and far below the 64-bit columns, so no sum of a balance and an
# amount can overflow them (which the database would answer with an error, not a refusal).
MAX_CREDITS = 10**15
MAX_BALANCE = 10**18


@dataclass(frozen=True)
class NewKey:
    secret: str
    record: ApiKeyRecord
    account: str


@dataclass(frozen=True)
class CreditReport:
    account: Account
    ledger: list[LedgerEntry]


async def create_account(ctx: AppContext, name: str, credits: int = 0) -> Account:
    name = name.strip()
    if not name or len(name) > 100:
        raise AdminError("an account name must be 1 to 100 characters")
    if not 0 <= credits <= MAX_CREDITS:
        raise AdminError(f"credits must be a whole number from 0 to {MAX_CREDITS:,}")
    async with ctx.db.write() as conn:
        account = await account_rows.create_account(conn, name)
        if credits:
            grant = NewLedgerEntry(account.id, "grant", credits, note="initial credits")
            await account_rows.add_ledger_entry(conn, grant)
        return await account_rows.get_account(conn, account.id)


async def create_key(ctx: AppContext, account_name: str, key_name: str | None = None) -> NewKey:
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        secret, record = await account_rows.create_key(conn, account.id, key_name)
    return NewKey(secret=secret, record=record, account=account.name)


async def list_keys(ctx: AppContext, account_name: str) -> list[ApiKeyRecord]:
    async with ctx.db.read() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        return await account_rows.list_keys(conn, account.id)


async def revoke_key(ctx: AppContext, key_id: str) -> ApiKeyRecord:
    async with ctx.db.write() as conn:
        return await account_rows.revoke_key(conn, key_id)


async def grant_credits(
    ctx: AppContext, account_name: str, amount: int, note: str | None = None
) -> Account:
    if amount == 0:
        raise AdminError("the amount must not be zero")
    if abs(amount) > MAX_CREDITS:
        raise AdminError(f"the amount must be at most {MAX_CREDITS:,} credits either way")
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        # one conditional UPDATE each way, as for a task's charge: reading the balance first and
        # writing after let concurrent take-backs pass the check together, and on PostgreSQL
        # the last of them then failed on the balance_not_negative constraint
        if amount < 0 and not await account_rows.try_debit(conn, account.id, -amount):
            balance = await account_rows.balance_of(conn, account.id)
            raise AdminError(
                f"cannot take {-amount} credits: the balance of {account.name!r} is {balance}"
            )
        if amount > 0 and not await account_rows.try_credit(conn, account.id, amount, MAX_BALANCE):
            raise AdminError(f"the balance of {account.name!r} may not exceed {MAX_BALANCE:,}")
        kind = "grant" if amount > 0 else "debit"
        await account_rows.record_entry(conn, NewLedgerEntry(account.id, kind, amount, note=note))
        return await account_rows.get_account(conn, account.id)


async def credit_report(ctx: AppContext, account_name: str, limit: int = 100) -> CreditReport:
    async with ctx.db.read() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        entries = await account_rows.ledger_of(conn, account.id, limit)
    return CreditReport(account=account, ledger=entries)


async def ensure_demo_account(ctx: AppContext) -> NewKey | None:
    """On an empty database, a ``demo`` account with credits and a key (returned once)."""
    async with ctx.db.write() as conn:
        if await account_rows.count_accounts(conn) > 0:
            return None
        account = await account_rows.create_account(conn, DEMO_ACCOUNT)
        grant = NewLedgerEntry(account.id, "grant", DEMO_CREDITS, note="demo credits")
        await account_rows.add_ledger_entry(conn, grant)
        secret, record = await account_rows.create_key(conn, account.id, "demo")
    return NewKey(secret=secret, record=record, account=account.name)
