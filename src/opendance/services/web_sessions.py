"""Dashboard sign-in and browser sessions.

A session is a random 256-bit token in an HttpOnly cookie; the database keeps only its SHA-256,
so a leaked table signs nobody in, and signing out deletes the row (the cookie is dead at once,
on every API process).

The playground needs an API key in the browser, and a key's secret exists only when it is made.
So each session gets its own playground key whose secret is derived from the session token
(HMAC-SHA256 of the key id): the server can give it to that browser again on every page load
without storing it. The key carries the session's end, after which the API refuses it, and it
is revoked when the session signs out (or the account gets a new password).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from opendance.db import accounts as account_rows
from opendance.db import web_users
from opendance.db.database import Connection
from opendance.db.types import utcnow
from opendance.db.web_users import WebUser
from opendance.domain import ids
from opendance.services.context import AppContext
from opendance.services.password_pool import PasswordsBusy, password_pool
from opendance.services.passwords import hash_password, needs_rehash, verify_password

PLAYGROUND_KEY_NAME = "Playground (browser session)"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who, and the session's own secret (the cookie's value)."""

    token: str
    user: WebUser
    playground_key_id: str | None
    expires_at: datetime

    @property
    def id(self) -> str:
        return session_id(self.token)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def sign_in(ctx: AppContext, identifier: str, password: str) -> str | None:
    """A new session token if the name or e-mail and the password match, else None."""
    async with ctx.db.read() as conn:
        found = await web_users.credentials_for(conn, identifier.strip())
    stored = found.password_hash if found else None
    # raises PasswordsBusy when the hashing threads are all taken
    if not await password_pool().run(verify_password, stored, password):
        return None
    assert found is not None and stored is not None
    new_hash = None
    if needs_rehash(stored):
        # an upgrade can wait for the next sign-in; a busy moment must not refuse this one
        with contextlib.suppress(PasswordsBusy):
            new_hash = await password_pool().run(hash_password, password)
    token = secrets.token_urlsafe(32)
    async with ctx.db.write() as conn:
        if new_hash is not None:
            await web_users.set_password_hash(conn, found.account_id, new_hash)
        await _end_expired_sessions(conn, found.account_id)
        await web_users.insert_session(
            conn,
            session_id=session_id(token),
            account_id=found.account_id,
            expires_at=utcnow() + timedelta(hours=ctx.settings.session_hours),
        )
    return token


async def session_for(ctx: AppContext, token: str | None) -> Session | None:
    """The live session of a cookie value, or None (absent, unknown, expired, signed out)."""
    if not token or len(token) > 100:
        return None
    async with ctx.db.read() as conn:
        row = await web_users.get_session(conn, session_id(token))
        if row is None or row.expires_at <= utcnow():
            return None
        user = await web_users.user_by_id(conn, row.account_id)
    if user is None:
        return None
    return Session(
        token=token, user=user, playground_key_id=row.playground_key_id, expires_at=row.expires_at
    )


async def sign_out(ctx: AppContext, token: str) -> None:
    async with ctx.db.write() as conn:
        row = await web_users.delete_session(conn, session_id(token))
        if row is not None and row.playground_key_id:
            await account_rows.revoke_key(conn, row.playground_key_id)


def playground_secret(token: str, key_id: str) -> str:
    digest = hmac.new(token.encode("utf-8"), b"playground:" + key_id.encode(), "sha256").digest()
    return ids.API_KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def playground_key(ctx: AppContext, session: Session) -> tuple[str, str]:
    """(key id, secret) of the session's playground key, made on first use and made anew if
    the user revoked it on the keys page."""
    async with ctx.db.write() as conn:
        key_id = session.playground_key_id
        if key_id is not None:
            keys = await account_rows.list_keys(conn, session.user.account_id)
            if any(k.id == key_id and k.revoked_at is None for k in keys):
                return key_id, playground_secret(session.token, key_id)
        key_id = ids.new_key_id()
        await account_rows.create_key(
            conn,
            session.user.account_id,
            PLAYGROUND_KEY_NAME,
            key_id=key_id,
            secret=playground_secret(session.token, key_id),
            expires_at=session.expires_at,  # the API refuses it from then on
        )
        await web_users.set_playground_key(conn, session.id, key_id)
    return key_id, playground_secret(session.token, key_id)


async def end_sessions_of(conn: Connection, account_id: str) -> None:
    """End every session of the account and revoke their playground keys (a new password)."""
    for key_id in await web_users.delete_sessions_of(conn, account_id):
        await account_rows.revoke_key(conn, key_id)


async def _end_expired_sessions(conn: Connection, account_id: str) -> None:
    for expired_id, key_id in await web_users.expired_sessions(conn, account_id):
        await web_users.delete_session(conn, expired_id)
        if key_id:
            await account_rows.revoke_key(conn, key_id)
