"""Each account's webhook signing secret: created on first use, rotated on request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from opendance.db import accounts as account_rows
from opendance.db.database import Connection
from opendance.db.types import utcnow
from opendance.domain.webhook_signing import new_secret
from opendance.services.context import AppContext

# After a rotation, deliveries are signed with both secrets this long.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class AccountSecrets:
    current: str
    previous: str | None
    rotated_at: datetime | None

    def in_force(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with now (the newest first)."""
        if self.previous and self.rotated_at and now - self.rotated_at < ROTATION_OVERLAP:
            return [self.current, self.previous]
        return [self.current]


async def account_secrets(conn: Connection, account_id: str) -> AccountSecrets:
    """The account's secrets, creating the first one if it has none yet (in ``conn``'s
    write transaction)."""
    row = await account_rows.webhook_secrets_of(conn, account_id)
    if row.current:
        return AccountSecrets(row.current, row.previous, row.rotated_at)
    secret = new_secret()
    await account_rows.set_webhook_secrets(
        conn, account_id, current=secret, previous=None, rotated_at=None
    )
    return AccountSecrets(secret, None, None)


async def show_secret(ctx: AppContext, account_name: str) -> AccountSecrets:
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        return await account_secrets(conn, account.id)


async def rotate_secret(ctx: AppContext, account_name: str) -> AccountSecrets:
    """A new current secret; the old one keeps signing for ``ROTATION_OVERLAP``."""
    async with ctx.db.write() as conn:
        account = await account_rows.get_account_by_name(conn, account_name)
        old = await account_secrets(conn, account.id)
        rotated = AccountSecrets(new_secret(), old.current, utcnow())
        await account_rows.set_webhook_secrets(
            conn,
            account.id,
            current=rotated.current,
            previous=rotated.previous,
            rotated_at=rotated.rotated_at,
        )
        return rotated
