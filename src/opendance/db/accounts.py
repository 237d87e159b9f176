"""Accounts, API keys and the credit ledger."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import accounts, api_keys, ledger
from opendance.db.types import utcnow
from opendance.domain import ids
from opendance.domain.accounts import KeyOwner
from opendance.errors import AdminError


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    balance: int
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    account_id: str
    name: str | None
    prefix: str
    last4: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    account_id: str
    task_id: str | None
    kind: str
    amount: int
    note: str | None
    created_at: datetime


async def create_account(conn: AsyncConnection, name: str) -> Account:
    account = Account(id=ids.new_account_id(), name=name, balance=0, created_at=utcnow())
    try:
        await conn.execute(
            insert(accounts).values(
                id=account.id, name=name, balance=0, created_at=account.created_at
            )
        )
    except IntegrityError as exc:
        raise AdminError(f"an account named {name!r} exists already") from exc
    return account


async def count_accounts(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())


async def get_account_by_name(conn: AsyncConnection, name: str) -> Account:
    row = (await conn.execute(select(accounts).where(accounts.c.name == name))).first()
    if row is None:
        raise AdminError(f"no account named {name!r}")
    return Account(row.id, row.name, row.balance, row.created_at)


async def get_account(conn: AsyncConnection, account_id: str) -> Account:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).one()
    return Account(row.id, row.name, row.balance, row.created_at)


async def list_accounts(conn: AsyncConnection) -> list[Account]:
    rows = await conn.execute(select(accounts).order_by(accounts.c.created_at))
    return [Account(r.id, r.name, r.balance, r.created_at) for r in rows]


async def create_key(
    conn: AsyncConnection,
    account_id: str,
    name: str | None = None,
    *,
    key_id: str | None = None,
    secret: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Create a key; returns the secret (never stored) and its record. A caller may bring its
    own id and secret (the playground derives a session's key from the session cookie) and an
    end (the session's)."""
    secret = secret or ids.new_api_key()
    record = ApiKeyRecord(
        id=key_id or ids.new_key_id(),
        account_id=account_id,
        name=name,
        prefix=secret[:10],
        last4=secret[-4:],
        created_at=utcnow(),
        last_used_at=None,
        revoked_at=None,
        expires_at=expires_at,
    )
    await conn.execute(
        insert(api_keys).values(
            id=record.id,
            account_id=account_id,
            name=name,
            key_hash=ids.hash_api_key(secret),
            prefix=record.prefix,
            last4=record.last4,
            created_at=record.created_at,
            expires_at=expires_at,
        )
    )
    return secret, record


async def list_keys(conn: AsyncConnection, account_id: str) -> list[ApiKeyRecord]:
    rows = await conn.execute(
        select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
    )
    return [_key_record(r) for r in rows]


async def revoke_key(conn: AsyncConnection, key_id: str) -> ApiKeyRecord:
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise AdminError(f"no API key with id {key_id!r}")
    return _key_record(row)


KEY_OWNER_BY_HASH = select(
    api_keys.c.id, api_keys.c.account_id, api_keys.c.last_used_at, api_keys.c.expires_at
).where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
"""The owner of a key that was not revoked, by the key's hash (its expiry is the caller's to
check)."""


async def find_key_owner(conn: AsyncConnection, secret: str) -> KeyOwner | None:
    """The owner of a key that was not revoked, or None."""
    row = (await conn.execute(KEY_OWNER_BY_HASH, {"key_hash": ids.hash_api_key(secret)})).first()
    return KeyOwner(row.id, row.account_id, row.last_used_at, row.expires_at) if row else None


async def touch_key(conn: AsyncConnection, key_id: str, when: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=when))


@dataclass(frozen=True)
class NewLedgerEntry:
    """One row of the append-only ledger: a grant, debit, charge or refund of ``amount``."""

    account_id: str
    kind: str
    amount: int
    task_id: str | None = None
    note: str | None = None


async def add_ledger_entry(conn: AsyncConnection, entry: NewLedgerEntry) -> None:
    """Append to the ledger and move the balance by the same amount, in the caller's transaction.

    A debit only happens when the balance covers it; callers check ``try_debit`` for that.
    """
    await record_entry(conn, entry)
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == entry.account_id)
        .values(balance=accounts.c.balance + entry.amount)
    )


async def record_entry(conn: AsyncConnection, entry: NewLedgerEntry) -> None:
    """The ledger row of a balance change the caller has applied already (``try_debit``,
    ``try_credit``)."""
    await conn.execute(insert(ledger).values(**dataclasses.asdict(entry), created_at=utcnow()))


async def try_debit(conn: AsyncConnection, account_id: str, amount: int) -> bool:
    """Take ``amount`` off the balance if it covers it: one conditional UPDATE, so concurrent
    requests can never take the balance below zero."""
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.balance >= amount)
        .values(balance=accounts.c.balance - amount)
    )
    return result.rowcount == 1


async def try_credit(conn: AsyncConnection, account_id: str, amount: int, ceiling: int) -> bool:
    """Add ``amount`` to the balance if it stays at most ``ceiling``; the same one conditional
    UPDATE as ``try_debit``, so the column can never overflow."""
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.balance <= ceiling - amount)
        .values(balance=accounts.c.balance + amount)
    )
    return result.rowcount == 1


async def record_charge(
    conn: AsyncConnection, *, account_id: str, task_id: str, amount: int
) -> None:
    """The ledger row for a debit already applied by ``try_debit``."""
    await record_entry(conn, NewLedgerEntry(account_id, "charge", -amount, task_id=task_id))


async def balance_of(conn: AsyncConnection, account_id: str) -> int:
    row = (await conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id))).one()
    return int(row.balance)


async def ledger_of(conn: AsyncConnection, account_id: str, limit: int = 100) -> list[LedgerEntry]:
    rows = await conn.execute(
        select(ledger)
        .where(ledger.c.account_id == account_id)
        .order_by(ledger.c.id.desc())
        .limit(limit)
    )
    return [
        LedgerEntry(r.id, r.account_id, r.task_id, r.kind, r.amount, r.note, r.created_at)
        for r in rows
    ]


async def ledger_sum(conn: AsyncConnection, account_id: str) -> int:
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
                ledger.c.account_id == account_id
            )
        )
    ).scalar_one()
    return int(total)


def _key_record(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(**{field.name: getattr(row, field.name) for field in fields(ApiKeyRecord)})


@dataclass(frozen=True)
class WebhookSecretRow:
    current: str | None
    previous: str | None
    rotated_at: datetime | None


# The columns that hold a WebhookSecretRow, in the order of its fields.
_SECRET_COLUMNS = (
    accounts.c.webhook_secret,
    accounts.c.webhook_previous_secret,
    accounts.c.webhook_secret_rotated_at,
)


async def webhook_secrets_of(conn: AsyncConnection, account_id: str) -> WebhookSecretRow:
    query = select(*_SECRET_COLUMNS).where(accounts.c.id == account_id)
    return WebhookSecretRow(*(await conn.execute(query)).one())


async def set_webhook_secrets(
    conn: AsyncConnection,
    account_id: str,
    *,
    current: str,
    previous: str | None,
    rotated_at: datetime | None,
) -> None:
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(dict(zip(_SECRET_COLUMNS, (current, previous, rotated_at), strict=True)))
    )
