"""Operator use cases for dashboard users: passwords, e-mails, admins, new users.

An account is an admin when the operator says so on the command line (``accounts create NAME
--admin`` or ``accounts set-admin NAME``) or an admin does in the operator view; nothing else
makes one, so the first admin always comes from someone with access to the server.
"""

from __future__ import annotations

import re

from opendance.db import accounts as account_rows
from opendance.db import web_users
from opendance.db.web_users import WebUser
from opendance.errors import AdminError
from opendance.services import admin, web_sessions
from opendance.services.context import AppContext
from opendance.services.password_pool import password_pool
from opendance.services.passwords import hash_password

# deliberately loose: one @, something on both sides, a dot in the domain, no spaces
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise AdminError(f"{email!r} is not an e-mail address")
    return email


async def create_user(
    ctx: AppContext,
    name: str,
    *,
    email: str | None = None,
    is_admin: bool = False,
    credits: int = 0,
) -> WebUser:
    """An account that can sign in once it has a password (``set_password`` or an invite)."""
    email = normalise_email(email)
    if email is not None:
        async with ctx.db.read() as conn:
            if await web_users.email_taken(conn, email):
                raise AdminError(f"the e-mail {email!r} belongs to another account")
    account = await admin.create_account(ctx, name, credits)
    async with ctx.db.write() as conn:
        await web_users.set_email(conn, account.id, email)
        await web_users.set_admin(conn, account.id, is_admin)
        user = await web_users.user_by_id(conn, account.id)
    assert user is not None
    return user


async def set_password(ctx: AppContext, name: str, password: str) -> WebUser:
    """Set the password, end the account's sessions (signed in elsewhere: out) and cancel its
    open invite links (one would otherwise replace this password later)."""
    new_hash = await password_pool().run(hash_password, password)
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, name)
        await web_users.set_password_hash(conn, account.id, new_hash)
        await web_sessions.end_sessions_of(conn, account.id)
        await web_users.cancel_open_invites(conn, account.id)
        user = await web_users.user_by_id(conn, account.id)
    assert user is not None
    return user


async def set_admin(ctx: AppContext, name: str, is_admin: bool) -> WebUser:
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, name)
        await web_users.set_admin(conn, account.id, is_admin)
        user = await web_users.user_by_id(conn, account.id)
    assert user is not None
    return user


async def set_email(ctx: AppContext, name: str, email: str | None) -> WebUser:
    email = normalise_email(email)
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, name)
        if email is not None and await web_users.email_taken(conn, email, other_than=account.id):
            raise AdminError(f"the e-mail {email!r} belongs to another account")
        await web_users.set_email(conn, account.id, email)
        user = await web_users.user_by_id(conn, account.id)
    assert user is not None
    return user


async def list_users(ctx: AppContext) -> list[WebUser]:
    async with ctx.db.read() as conn:
        return await web_users.all_users(conn)
