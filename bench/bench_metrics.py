"""What ``GET /metrics`` costs: a scrape over a database of 10,000 tasks, and the request
metrics' share of a status poll.

    python bench/bench_metrics.py [--tasks 10000] [--scrapes 20] [--requests 5000] [--rounds 8]
                                  [--postgres postgresql://postgres@127.0.0.1/postgres]

1. A scrape (the fleet's aggregate queries and the encoding) over SQLite and over a fresh
   PostgreSQL database (created for the run, dropped at the end), both holding ``--tasks``
   finished and queued tasks with their ledger rows, webhook deliveries and attempts. Median
   of ``--scrapes``.
2. ``GET /v1/status`` of a finished task called in-process on the ASGI app, with the request
   metrics on and off (the same app otherwise), alternating ``--rounds`` rounds of
   ``--requests`` requests: the difference per request, and that difference as a share of
   one request at bench_api.py's figure (7,700 req/s, 130 µs). Target: under 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from starlette.middleware import Middleware

from opendance.api.app import create_app
from opendance.api.middleware import RequestContextMiddleware
from opendance.bootstrap import open_context
from opendance.db.tables import ledger, tasks, webhook_attempts, webhook_deliveries
from opendance.db.types import utcnow
from opendance.metrics.http import HttpMetrics
from opendance.metrics.scrape import scrape
from opendance.services import admin
from opendance.services.context import AppContext
from opendance.settings import Settings
from support import DEFAULT_POSTGRES, finished_task, fresh_database

STATUS_REQUESTS_PER_SECOND = 7700  # bench_api.py's figure for GET /v1/status
TARGET_SHARE = 0.05


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a server where the run may create and drop a database ('' to skip)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        sqlite = Settings(data_dir=Path(tmp) / "sqlite", rate_limit_per_minute=0)
        print(f"scrape, SQLite, {args.tasks} tasks:     {_scrape_figure(sqlite, args)}")
        if args.postgres:
            with fresh_database(args.postgres, "opendance_bench_metrics") as url:
                pg = Settings(data_dir=Path(tmp) / "pg", database_url=url)
                print(f"scrape, PostgreSQL, {args.tasks} tasks: {_scrape_figure(pg, args)}")
        share = asyncio.run(_middleware_share(Settings(data_dir=Path(tmp) / "mw"), args))
    return 0 if share < TARGET_SHARE else 1


def _scrape_figure(settings: Settings, args: argparse.Namespace) -> str:
    async def run() -> str:
        ctx = await open_context(settings)
        try:
            await _fill(ctx, args.tasks)
            http = HttpMetrics()
            await scrape(ctx, http, None)  # warm: connections, compiled statements
            times, size = [], 0
            for _ in range(args.scrapes):
                started = time.perf_counter()
                exposition = await scrape(ctx, http, None)
                times.append(time.perf_counter() - started)
                size = len(exposition.body)
            assert b"opendance_scrape_error 0.0" in exposition.body, exposition.body[-400:]
            ms = sorted(t * 1000 for t in times)
            return (
                f"median {statistics.median(ms):6.1f} ms, max {ms[-1]:6.1f} ms "
                f"({size} bytes, {args.scrapes} scrapes)"
            )
        finally:
            await ctx.close()

    return asyncio.run(run())


async def _fill(ctx: AppContext, count: int) -> None:
    """``count`` tasks as a busy fleet leaves them: mostly finished, some queued, with the
    charge of each, the refund of each failed one, and webhooks for a third of them."""
    account_id = (await admin.create_account(ctx, "bench", 10**9)).id
    rng = random.Random(7)
    now = utcnow()
    task_rows_, ledger_rows, delivery_rows, attempt_rows = [], [], [], []
    for n in range(count):
        task_id = f"task_bench_{n:06d}"
        status = rng.choices(["succeeded", "failed", "queued", "running"], [70, 20, 8, 2])[0]
        created = now - timedelta(seconds=rng.uniform(60, 86400 * 7))
        started = created + timedelta(seconds=rng.uniform(0.1, 30)) if status != "queued" else None
        finished = (
            started + timedelta(seconds=rng.uniform(2, 600))
            if started and status in ("succeeded", "failed")
            else None
        )
        task_rows_.append(
            {
                "id": task_id, "account_id": account_id, "status": status,
                "request": {"prompt": "bench", "duration": "4"}, "seed": n, "price": 8,
                "engine": rng.choice(["preview", "ltx2"]), "created_at": created,
                "updated_at": finished or created, "started_at": started,
                "finished_at": finished, "progress": 100 if finished else 0,
                "attempts": 1 if started else 0, "lease_token": 1 if started else 0,
            }
        )  # fmt: skip
        ledger_rows.append(_ledger(account_id, task_id, "charge", -8, created))
        if status == "failed":
            ledger_rows.append(_ledger(account_id, task_id, "refund", 8, finished or created))
        if finished and n % 3 == 0:
            delivery_id = f"msg_bench_{n:06d}"
            delivery_rows.append(
                {
                    "id": delivery_id, "task_id": task_id, "account_id": account_id,
                    "url": "https://example.com/hook", "payload": "{}",
                    "status": rng.choice(["delivered", "delivered", "failed", "pending"]),
                    "attempts": 1, "next_attempt_at": finished, "claim_token": 1,
                    "created_at": finished, "updated_at": finished,
                }
            )  # fmt: skip
            for attempt in range(1, rng.choice([1, 1, 2, 3]) + 1):
                attempt_rows.append(
                    {
                        "delivery_id": delivery_id, "attempt": attempt, "started_at": finished,
                        "duration_ms": 40, "status_code": rng.choice([200, 200, 500, None]),
                        "error": None,
                    }
                )  # fmt: skip
    async with ctx.db.write() as conn:
        for table, rows in [
            (tasks, task_rows_),
            (ledger, ledger_rows),
            (webhook_deliveries, delivery_rows),
            (webhook_attempts, attempt_rows),
        ]:
            for start in range(0, len(rows), 2000):
                await conn.execute(insert(table), rows[start : start + 2000])


def _ledger(account_id: str, task_id: str, kind: str, amount: int, when: Any) -> dict[str, Any]:
    return {
        "account_id": account_id, "task_id": task_id, "kind": kind, "amount": amount,
        "note": None, "created_at": when,
    }  # fmt: skip


async def _middleware_share(settings: Settings, args: argparse.Namespace) -> float:
    ctx = await open_context(settings.model_copy(update={"rate_limit_per_minute": 0}))
    try:
        key, task_id = await finished_task(ctx, "poller")
        with_metrics = create_app(ctx)
        without = create_app(ctx)
        # the same app, its middleware built without the metrics (Starlette builds the stack
        # at the first request)
        without.user_middleware = [Middleware(RequestContextMiddleware)]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": "/v1/status", "raw_path": b"/v1/status",
            "root_path": "", "query_string": f"task_id={task_id}".encode(),
            "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        on: list[float] = []
        off: list[float] = []
        for app in (with_metrics, without):  # warm both
            await _requests(app, scope, 200)
        for _ in range(args.rounds):
            on.append(await _requests(with_metrics, scope, args.requests))
            off.append(await _requests(without, scope, args.requests))
        observe = _observe_cost(with_metrics.state.http_metrics, scope)
    finally:
        await ctx.close()
    on_us, off_us = statistics.median(on) * 1e6, statistics.median(off) * 1e6
    budget_us = 1e6 / STATUS_REQUESTS_PER_SECOND
    share = max(0.0, on_us - off_us) / budget_us
    print(
        f"GET /v1/status in-process: {on_us:6.1f} µs with request metrics, "
        f"{off_us:6.1f} µs without (medians of {args.rounds} rounds)"
    )
    print(f"HttpMetrics.observe alone: {observe * 1e6:6.2f} µs")
    print(
        f"request metrics' share of a status poll at {STATUS_REQUESTS_PER_SECOND} req/s: "
        f"{share:6.1%} (from the A/B difference; target < {TARGET_SHARE:.0%})"
    )
    return share


async def _requests(app: Any, scope: dict[str, Any], count: int) -> float:
    """Seconds per request, ``count`` sequential status polls through the whole app."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / count


def _observe_cost(metrics: HttpMetrics, scope: dict[str, Any]) -> float:
    routed = {**scope, "route": object()}
    count = 200_000
    started = time.perf_counter()
    for _ in range(count):
        metrics.observe(routed, 200, 0.0004)
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    sys.exit(main())
