"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from opendance.db import tasks as task_rows
from opendance.db.accounts import find_key_owner
from opendance.domain.task_view import Lease, ResultFiles
from opendance.services import admin
from opendance.services.context import AppContext
from opendance.services.submit import submit_generate

DEFAULT_POSTGRES = os.environ.get(
    "OPENDANCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered on port {port} within {seconds:g} s")


def plain(url: str) -> str:
    """The URL as asyncpg wants it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain(url), timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database on ``server_url`` for this run (dropped at the end); its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(query(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(query(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def unlimited_server_env(data_dir: Path, log_level: str = "warning") -> dict[str, str]:
    """The environment of a benchmarked ``opendance serve``: its data, and no rate limits (a
    benchmark is one key sending as fast as it can)."""
    return {
        **os.environ,
        "OPENDANCE_DATA_DIR": str(data_dir),
        "OPENDANCE_RATE_LIMIT_PER_MINUTE": "0",
        "OPENDANCE_ACCOUNT_RATE_LIMIT_PER_MINUTE": "0",
        "OPENDANCE_LOG_LEVEL": log_level,
    }


async def finished_task(ctx: AppContext, account: str) -> tuple[str, str]:
    """A new account with plenty of credits, its key, and one succeeded task to poll."""
    await admin.create_account(ctx, account, 10**9)
    key = (await admin.create_key(ctx, account)).secret
    async with ctx.db.read() as conn:
        owner = await find_key_owner(conn, key)
    assert owner is not None
    task_id = await submit_generate(ctx, owner, {"prompt": "bench", "duration": 4})
    async with ctx.db.write() as conn:
        task = await task_rows.claim_next(conn, owner="bench", lease_seconds=60)
        assert task is not None
        await task_rows.complete(
            conn,
            Lease(task.id, task.lease_token, "bench"),
            ResultFiles(f"videos/{task_id}.mp4"),
        )
    return key, task_id


async def bench_account_key(database_url: str, data_dir: Path) -> str:
    """A fresh account with credits to spare and its API key, in a migrated database."""
    from opendance.bootstrap import open_context
    from opendance.settings import Settings

    ctx = await open_context(Settings(data_dir=data_dir, database_url=database_url))
    try:
        await admin.create_account(ctx, "bench", 10**9)
        return (await admin.create_key(ctx, "bench")).secret
    finally:
        await ctx.close()
