"""Bearer API key authentication."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from opendance import errors
from opendance.db import accounts as account_rows
from opendance.db.types import utcnow
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_view import TaskView
from opendance.services.context import AppContext

log = logging.getLogger("opendance.auth")

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
    # A playground key ends with its browser session. Its row carries the session's end, read
    # by the same indexed lookup: no join with the sessions and no extra query on the hot path,
    # and unlike a periodic sweep that revokes such keys, no window in which an expired
    # session's key still works. (Signing out or a new password revoke the key outright.)
    if owner.expires_at is not None and owner.expires_at <= utcnow():
        raise errors.InvalidApiKey("API key is invalid or revoked")
    return owner


def note_key_used(ctx: AppContext, owner: KeyOwner) -> None:
    """After a successful request: refresh the key's last_used_at, in the background and at
    most once a minute. A failed request changes nothing, and a busy database never delays or
    fails the response over a timestamp."""
    now = utcnow()
    last = max(owner.last_used_at or _NEVER, _touched.get(owner.key_id, _NEVER))
    if now - last <= LAST_USED_RESOLUTION:
        return
    # remembered at once, so the polls that arrive before the write lands do not repeat it
    _touched[owner.key_id] = now
    if len(_touched) > 100_000:
        _touched.clear()
    task = asyncio.get_running_loop().create_task(_touch(ctx, owner.key_id, now))
    _touches.add(task)
    task.add_done_callback(_touches.discard)


async def _touch(ctx: AppContext, key_id: str, when: datetime) -> None:
    try:
        async with ctx.db.write() as conn:
            await account_rows.touch_key(conn, key_id, when)
    except Exception:
        log.warning("could not record the last use of key %s", key_id, exc_info=True)


# strong references: the loop keeps only weak ones to running tasks
_touches: set[asyncio.Task[None]] = set()
_touched: dict[str, datetime] = {}
_NEVER = datetime.min.replace(tzinfo=UTC)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 200:
        return None
    return token
