"""Submit throughput on PostgreSQL against SQLite, in the same run.

    python bench/bench_submit_pg.py [--seconds 8] [--connections 32] [--rounds 2]
                                    [--postgres postgresql://postgres@127.0.0.1/postgres]

``POST /v1/generate`` on ``opendance serve --workers 0`` (one uvicorn process, rate limit off),
once over a SQLite file and once over a fresh PostgreSQL database (created for the run and
dropped at the end), alternating rounds so that drifts of a shared machine hit both alike. Every
accepted request is one committed transaction (debit, task row, ledger row, NOTIFY on
PostgreSQL). The load comes from an httpx/asyncio client on loopback, ``--connections``
requests in flight; after the run the ledger is checked: every accepted task charged once.
Prints accepted/s for each and the ratio PostgreSQL / SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from opendance.bootstrap import open_context
from opendance.db.accounts import ledger_sum
from opendance.services import admin
from opendance.settings import Settings
from support import DEFAULT_POSTGRES, free_port, fresh_database, wait_until_healthy

BODY = {"prompt": "bench", "resolution": "480p", "duration": 4}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a server where the run may create and drop a database",
    )
    args = parser.parse_args()
    with (
        fresh_database(args.postgres, "opendance_bench_submit") as pg_url,
        tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp,
    ):
        databases = {
            "SQLite": Settings(data_dir=Path(tmp) / "sqlite"),
            "PostgreSQL": Settings(data_dir=Path(tmp) / "pg", database_url=pg_url),
        }
        runs: dict[str, list[float]] = {name: [] for name in databases}
        for _ in range(args.rounds):
            for name, settings in databases.items():
                runs[name].append(_round(settings, args))
    sqlite, pg = statistics.median(runs["SQLite"]), statistics.median(runs["PostgreSQL"])
    for name, values in runs.items():
        print(f"{name:11s} rounds {[round(v) for v in values]}")
    print(f"POST /v1/generate on SQLite      {sqlite:8.0f} accepted/s (median)")
    print(f"POST /v1/generate on PostgreSQL  {pg:8.0f} accepted/s (median)")
    print(f"ratio PostgreSQL / SQLite        {pg / sqlite:8.2f}  at concurrency {args.connections}")
    return 0


def _round(settings: Settings, args: argparse.Namespace) -> float:
    key = asyncio.run(_prepare(settings))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    env.update(
        OPENDANCE_DATA_DIR=str(settings.data_dir),
        OPENDANCE_DATABASE_URL=settings.resolved_database_url,
        OPENDANCE_RATE_LIMIT_PER_MINUTE="0",
        OPENDANCE_ACCOUNT_RATE_LIMIT_PER_MINUTE="0",
        OPENDANCE_LOG_LEVEL="warning",
    )
    cmd = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_healthy(port)
        url = f"http://127.0.0.1:{port}/v1/generate"
        asyncio.run(_load(url, key, 1.0, args.connections))  # warm-up
        accepted = asyncio.run(_load(url, key, args.seconds, args.connections))
    finally:
        proc.terminate()
        proc.wait(30)
    asyncio.run(_check_ledger(settings))
    return accepted / args.seconds


async def _prepare(settings: Settings) -> str:
    """A fresh account with plenty of credits (one per round) and its key."""
    ctx = await open_context(settings)
    try:
        name = f"bench-{secrets.token_hex(3)}"
        await admin.create_account(ctx, name, 10**9)
        return (await admin.create_key(ctx, name)).secret
    finally:
        await ctx.close()


async def _load(url: str, key: str, seconds: float, connections: int) -> int:
    """Keep ``connections`` submits in flight for ``seconds``; the count accepted."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    deadline = time.monotonic() + seconds
    accepted = 0
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:

        async def one_connection() -> None:
            nonlocal accepted
            while time.monotonic() < deadline:
                response = await client.post(url, json=BODY)
                if response.status_code != 200:
                    raise SystemExit(f"{response.status_code} from {url}: {response.text}")
                accepted += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    return accepted


async def _check_ledger(settings: Settings) -> None:
    from opendance.db.accounts import list_accounts

    ctx = await open_context(settings)
    try:
        async with ctx.db.read() as conn:
            for account in await list_accounts(conn):
                if await ledger_sum(conn, account.id) != account.balance:
                    raise SystemExit(f"ledger and balance of {account.name} disagree")
    finally:
        await ctx.close()


if __name__ == "__main__":
    raise SystemExit(main())
