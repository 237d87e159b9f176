"""Migration 0005 on a database with tasks in it: what each task needs is read from its stored
request, queued tasks are served by no engine yet, and the ledger still points at its tasks."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import JSON, BigInteger, Integer, String, column, select, table
from sqlalchemy.engine import Connection

from opendance.db.database import Database
from opendance.db.migrate import alembic_config, migrate
from opendance.db.tables import ledger, tasks
from opendance.db.types import UTCDateTime, utcnow

OLD_TASKS = table(
    "tasks",
    column("id", String),
    column("account_id", String),
    column("status", String),
    column("request", JSON),
    column("seed", BigInteger),
    column("price", Integer),
    column("engine", String),
    column("input_image_key", String),
    column("created_at", UTCDateTime),
    column("updated_at", UTCDateTime),
    column("progress", Integer),
    column("attempts", Integer),
    column("lease_token", BigInteger),
)
OLD_ACCOUNTS = table(
    "accounts",
    column("id", String),
    column("name", String),
    column("balance", BigInteger),
    column("created_at", UTCDateTime),
)
OLD_LEDGER = table(
    "ledger",
    column("account_id", String),
    column("task_id", String),
    column("kind", String),
    column("amount", BigInteger),
    column("created_at", UTCDateTime),
)


def _request(**fields: Any) -> dict[str, Any]:
    request = {
        "prompt": "p", "aspect_ratio": "1:1", "resolution": "480p", "duration": "4",
        "generate_audio": False, "fixed_lens": False, "image_urls": [], "seed": 1,
    }  # fmt: skip
    request.update(fields)
    return request


OLD_ROWS = {
    # id: (status, request, input_image_key)
    "plain": ("succeeded", _request(), None),
    "audio": ("queued", _request(generate_audio=True), None),
    "url-image": ("running", _request(image_urls=["https://img.example/a.png"]), None),
    "inline-image": (
        "queued",
        _request(image_urls=["data:image/png;base64,<68 bytes>"], generate_audio=True),
        "inputs/inline-image",
    ),
    "no-image-field": ("failed", {k: v for k, v in _request().items() if k != "image_urls"}, None),
}


def _old_task(
    task_id: str, status: str, request: dict[str, Any], image_key: str | None = None
) -> dict[str, Any]:
    """A task row as the schema before 0005 had it: the engine set at submit."""
    now = utcnow()
    return {
        "id": task_id, "account_id": "acc", "status": status, "request": request, "seed": 1,
        "price": 8, "engine": "preview", "input_image_key": image_key, "created_at": now,
        "updated_at": now, "progress": 0, "attempts": 0, "lease_token": 0,
    }  # fmt: skip


def _upgrade_to(sync_conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.upgrade(config, revision)


async def test_existing_tasks_get_their_needs_from_the_stored_request(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade_to, "0004")
        now = utcnow()
        async with db.write() as conn:
            await conn.execute(
                OLD_ACCOUNTS.insert().values(id="acc", name="old", balance=0, created_at=now)
            )
            for task_id, (status, request, image_key) in OLD_ROWS.items():
                await conn.execute(
                    OLD_TASKS.insert().values(_old_task(task_id, status, request, image_key))
                )
                await conn.execute(
                    OLD_LEDGER.insert().values(
                        account_id="acc", task_id=task_id, kind="charge", amount=-8, created_at=now
                    )
                )
        await migrate(db)
        async with db.read() as conn:
            rows = {
                row.id: (row.needs_audio, row.needs_image, row.engine, row.model)
                for row in await conn.execute(select(tasks))
            }
            charged = sorted((await conn.execute(select(ledger.c.task_id))).scalars())
    finally:
        await db.dispose()
    assert rows == {
        "plain": (False, False, "preview", None),
        "audio": (True, False, None, None),
        "url-image": (False, True, "preview", None),
        "inline-image": (True, True, None, None),
        "no-image-field": (False, False, "preview", None),
    }
    assert charged == sorted(OLD_ROWS)


async def test_a_database_with_accounts_and_keys_upgrades_across_table_rebuilds(
    empty_database_url: str,
) -> None:
    """0004 rebuilds accounts on SQLite and 0005 rebuilds tasks; keys and tasks point at
    them and must neither block the upgrade nor be lost."""
    db = Database(empty_database_url)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade_to, "0003")
        now = utcnow()
        keys = table(
            "api_keys",
            *(column(name, String) for name in ("id", "account_id", "key_hash", "prefix", "last4")),
            column("created_at", UTCDateTime),
        )
        async with db.write() as conn:
            await conn.execute(
                OLD_ACCOUNTS.insert().values(id="acc", name="old", balance=0, created_at=now)
            )
            key = {"id": "key", "account_id": "acc", "key_hash": "h", "prefix": "od_"}
            await conn.execute(keys.insert().values(**key, last4="abcd", created_at=now))
            await conn.execute(OLD_TASKS.insert().values(_old_task("t", "queued", _request())))
        await migrate(db)
        async with db.read() as conn:
            owners = (await conn.execute(select(keys.c.account_id))).scalars().all()
            queued = (await conn.execute(select(tasks.c.id))).scalars().all()
            if db.is_sqlite:
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await db.dispose()
    assert owners == ["acc"] and queued == ["t"]
