"""Invite links: the operator lets a user choose their own password.

The CLI prints a link with a random token; only the token's SHA-256 is stored, the link works
once and for ``invite_hours``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from opendance.db import accounts as account_rows
from opendance.db import web_users
from opendance.db.types import utcnow
from opendance.errors import AdminError
from opendance.services import web_sessions
from opendance.services.context import AppContext
from opendance.services.password_pool import password_pool
from opendance.services.passwords import hash_password

INVITE_PATH = "/dashboard/invite/"


@dataclass(frozen=True)
class Invite:
    account: str
    url: str
    expires_in_hours: float


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_invite(ctx: AppContext, account_name: str) -> Invite:
    """A new link for the account; its older links stop working (only the newest one sent
    should be able to set the password)."""
    token = secrets.token_urlsafe(32)
    hours = ctx.settings.invite_hours
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        await web_users.cancel_open_invites(conn, account.id)
        await web_users.insert_invite(
            conn,
            token_hash=token_hash(token),
            account_id=account.id,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    url = f"{ctx.settings.resolved_public_url}{INVITE_PATH}{token}"
    return Invite(account=account.name, url=url, expires_in_hours=hours)


async def invited_account(ctx: AppContext, token: str) -> str | None:
    """The name of the account an open invite is for; None if unknown, used or expired."""
    async with ctx.db.read() as conn:
        account_id = await web_users.open_invite(conn, token_hash(token))
        if account_id is None:
            return None
        return (await account_rows.get_account(conn, account_id)).name


async def accept_invite(ctx: AppContext, token: str, password: str) -> str:
    """Set the password through an invite (once); returns the account's id.

    Like a password the operator sets, it ends every session of the account (whoever held the
    old password is out, playground keys included) and cancels the account's other links."""
    used_up = AdminError("this invite link was used already or has expired")
    # a link that cannot work costs no hashing
    if await invited_account(ctx, token) is None:
        raise used_up
    # raises AdminError for a password that may not be set, PasswordsBusy when the hashing
    # threads are all taken
    new_hash = await password_pool().run(hash_password, password)
    async with ctx.db.write() as conn:
        account_id = await web_users.open_invite(conn, token_hash(token))
        if account_id is None or not await web_users.use_invite(conn, token_hash(token)):
            raise used_up
        await web_users.set_password_hash(conn, account_id, new_hash)
        await web_sessions.end_sessions_of(conn, account_id)
        await web_users.cancel_open_invites(conn, account_id)
        return account_id
