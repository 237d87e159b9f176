"""Migration 0006 on a database with a signed-in session: its playground key takes the
session's end, other keys none."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import String, column, select, table

from opendance.db.database import Database
from opendance.db.migrate import migrate
from opendance.db.tables import api_keys, web_sessions
from opendance.db.types import UTCDateTime, utcnow
from tests.db.test_fleet_migration import OLD_ACCOUNTS, _upgrade_to

OLD_KEYS = table(
    "api_keys",
    *(column(name, String) for name in ("id", "account_id", "key_hash", "prefix", "last4")),
    column("created_at", UTCDateTime),
)


async def test_playground_keys_of_existing_sessions_take_the_sessions_end(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    ends = utcnow() + timedelta(hours=3)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade_to, "0005")
        now = utcnow()
        async with db.write() as conn:
            await conn.execute(
                OLD_ACCOUNTS.insert().values(id="acc", name="old", balance=0, created_at=now)
            )
            for key_id in ("playground", "by-hand"):
                await conn.execute(
                    OLD_KEYS.insert().values(
                        id=key_id, account_id="acc", key_hash=key_id, prefix="od_", last4="abcd",
                        created_at=now,
                    )
                )  # fmt: skip
            await conn.execute(
                web_sessions.insert().values(
                    id="s", account_id="acc", created_at=now, expires_at=ends,
                    playground_key_id="playground",
                )
            )  # fmt: skip
        await migrate(db)
        async with db.read() as conn:
            rows = dict((await conn.execute(select(api_keys.c.id, api_keys.c.expires_at))).all())
    finally:
        await db.dispose()
    assert rows == {"playground": ends, "by-hand": None}
