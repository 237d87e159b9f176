"""Bearer API key authentication."""

from __future__ import annotations

from datetime import timedelta

from opendance import errors
from opendance.db import accounts as account_rows
from opendance.db.accounts import KeyOwner
from opendance.db.tasks import TaskView
from opendance.db.types import utcnow
from opendance.services.context import AppContext

# last_used_at is for people ("used 3 minutes ago"); writing it on every poll would turn every
# read into a write, so it is refreshed at most this often.
LAST_USED_RESOLUTION = timedelta(seconds=60)


async def authenticate(ctx: AppContext, authorization: str | None) -> KeyOwner:
    owner = await ctx.reads.key_owner(_secret(authorization))
    return await _accepted(ctx, owner)


async def authenticate_with_task(
    ctx: AppContext, authorization: str | None, task_id: str
) -> tuple[KeyOwner, TaskView | None]:
    """Authenticate and fetch the caller's task in one read (the status poll's whole path).
    The task is None when it does not exist or belongs to another account."""
    owner, task = await ctx.reads.key_owner_and_task(_secret(authorization), task_id)
    return await _accepted(ctx, owner), task


def _secret(authorization: str | None) -> str:
    secret = bearer_token(authorization)
    if secret is None:
        raise errors.InvalidApiKey()
    return secret


async def _accepted(ctx: AppContext, owner: KeyOwner | None) -> KeyOwner:
    if owner is None:
        raise errors.InvalidApiKey("API key is invalid or revoked")
    now = utcnow()
    if owner.last_used_at is None or now - owner.last_used_at > LAST_USED_RESOLUTION:
        async with ctx.db.write() as conn:
            await account_rows.touch_key(conn, owner.key_id, now)
    return owner


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 200:
        return None
    return token
