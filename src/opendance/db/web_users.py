"""Dashboard users: the sign-in columns of accounts, browser sessions and invite links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opendance.db.tables import account_invites, accounts, web_sessions
from opendance.db.types import utcnow


@dataclass(frozen=True)
class WebUser:
    """An account as the dashboard sees it."""

    account_id: str
    name: str
    email: str | None
    is_admin: bool
    balance: int
    created_at: datetime
    has_password: bool


@dataclass(frozen=True)
class Credentials:
    account_id: str
    password_hash: str | None


@dataclass(frozen=True)
class SessionRow:
    account_id: str
    expires_at: datetime
    playground_key_id: str | None


_USER_COLUMNS = (
    accounts.c.id,
    accounts.c.name,
    accounts.c.email,
    accounts.c.is_admin,
    accounts.c.balance,
    accounts.c.created_at,
    accounts.c.password_hash,
)


def _user(row: Any) -> WebUser:  # a Row of _USER_COLUMNS
    return WebUser(
        account_id=row.id,
        name=row.name,
        email=row.email,
        is_admin=bool(row.is_admin),
        balance=int(row.balance),
        created_at=row.created_at,
        has_password=row.password_hash is not None,
    )


async def credentials_for(conn: AsyncConnection, identifier: str) -> Credentials | None:
    """The account whose name (exactly) or e-mail (any case) is ``identifier``."""
    row = (
        await conn.execute(
            select(accounts.c.id, accounts.c.password_hash).where(
                or_(accounts.c.name == identifier, accounts.c.email == identifier.lower())
            )
        )
    ).first()
    return Credentials(row.id, row.password_hash) if row else None


async def user_by_id(conn: AsyncConnection, account_id: str) -> WebUser | None:
    row = (await conn.execute(select(*_USER_COLUMNS).where(accounts.c.id == account_id))).first()
    return _user(row) if row else None


async def all_users(conn: AsyncConnection) -> list[WebUser]:
    rows = await conn.execute(select(*_USER_COLUMNS).order_by(accounts.c.created_at))
    return [_user(r) for r in rows]


async def set_password_hash(conn: AsyncConnection, account_id: str, password_hash: str) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(password_hash=password_hash)
    )


async def set_admin(conn: AsyncConnection, account_id: str, is_admin: bool) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(is_admin=is_admin)
    )


async def email_taken(conn: AsyncConnection, email: str, *, other_than: str | None = None) -> bool:
    query = select(func.count()).where(accounts.c.email == email)
    if other_than is not None:
        query = query.where(accounts.c.id != other_than)
    return int((await conn.execute(query)).scalar_one()) > 0


async def set_email(conn: AsyncConnection, account_id: str, email: str | None) -> None:
    await conn.execute(update(accounts).where(accounts.c.id == account_id).values(email=email))


# sessions


async def insert_session(
    conn: AsyncConnection, *, session_id: str, account_id: str, expires_at: datetime
) -> None:
    await _insert_dated(
        conn, web_sessions, id=session_id, account_id=account_id, expires_at=expires_at
    )


async def _insert_dated(conn: AsyncConnection, table: Table, **values: Any) -> None:
    """A row of a table whose rows record when they were made (sessions, invites)."""
    await conn.execute(insert(table).values(created_at=utcnow(), **values))


async def get_session(conn: AsyncConnection, session_id: str) -> SessionRow | None:
    row = (
        await conn.execute(
            select(
                web_sessions.c.account_id,
                web_sessions.c.expires_at,
                web_sessions.c.playground_key_id,
            ).where(web_sessions.c.id == session_id)
        )
    ).first()
    return SessionRow(row.account_id, row.expires_at, row.playground_key_id) if row else None


async def set_playground_key(conn: AsyncConnection, session_id: str, key_id: str) -> None:
    await conn.execute(
        update(web_sessions).where(web_sessions.c.id == session_id).values(playground_key_id=key_id)
    )


async def delete_session(conn: AsyncConnection, session_id: str) -> SessionRow | None:
    found = await get_session(conn, session_id)
    if found is not None:
        await conn.execute(delete(web_sessions).where(web_sessions.c.id == session_id))
    return found


async def expired_sessions(conn: AsyncConnection, account_id: str) -> list[tuple[str, str | None]]:
    """(session id, playground key id) of the account's sessions that have run out."""
    rows = await conn.execute(
        select(web_sessions.c.id, web_sessions.c.playground_key_id).where(
            web_sessions.c.account_id == account_id, web_sessions.c.expires_at <= utcnow()
        )
    )
    return [(r.id, r.playground_key_id) for r in rows]


async def delete_sessions_of(conn: AsyncConnection, account_id: str) -> list[str]:
    """End every session of the account (a new password); returns their playground keys."""
    rows = await conn.execute(
        select(web_sessions.c.playground_key_id).where(web_sessions.c.account_id == account_id)
    )
    keys = [r.playground_key_id for r in rows if r.playground_key_id]
    await conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account_id))
    return keys


# invites


async def insert_invite(
    conn: AsyncConnection, *, token_hash: str, account_id: str, expires_at: datetime
) -> None:
    await _insert_dated(
        conn, account_invites, token_hash=token_hash, account_id=account_id, expires_at=expires_at
    )


async def open_invite(conn: AsyncConnection, token_hash: str) -> str | None:
    """The account of an unused, unexpired invite."""
    row = (
        await conn.execute(
            select(account_invites.c.account_id).where(
                account_invites.c.token_hash == token_hash,
                account_invites.c.used_at.is_(None),
                account_invites.c.expires_at > utcnow(),
            )
        )
    ).first()
    return str(row.account_id) if row else None


async def cancel_open_invites(conn: AsyncConnection, account_id: str) -> None:
    """Delete the account's unused invites: a link must not outlive a newer link or password."""
    await conn.execute(
        delete(account_invites).where(
            account_invites.c.account_id == account_id, account_invites.c.used_at.is_(None)
        )
    )


async def use_invite(conn: AsyncConnection, token_hash: str) -> bool:
    """Mark the invite used; False if it was used or expired meanwhile (one use only)."""
    result = await conn.execute(
        update(account_invites)
        .where(
            account_invites.c.token_hash == token_hash,
            account_invites.c.used_at.is_(None),
            account_invites.c.expires_at > utcnow(),
        )
        .values(used_at=utcnow())
    )
    return result.rowcount == 1
