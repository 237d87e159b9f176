"""Pickup latency: woken workers against polling only, measured in one run, on PostgreSQL
(LISTEN/NOTIFY) or with ``--sqlite`` on SQLite (the wake channel, ``pickup_sqlite.py``).

    python bench/bench_pickup.py [--tasks 200] [--workers 2] [--poll-seconds 0.5]
                                 [--postgres postgresql://postgres@127.0.0.1/postgres | --sqlite]

One ``opendance serve --workers 0`` and ``--workers`` idle ``opendance worker`` processes on a
fresh PostgreSQL database (created for the run, dropped at the end). Tasks are submitted one
at a time through the API, each after the previous one is finished and a random pause
(0.05-0.5 s, so submits fall at every phase of the workers' poll timers). Pickup latency is
``started_at - created_at`` of each task: the claim's transaction start minus the submit's, both
PostgreSQL's clock. The workers run first with notifications (``OPENDANCE_QUEUE_NOTIFY=true``,
the default), then polling only (``false``), every ``--poll-seconds`` (0.5 s is the default
setting). Prints p50/p99 of both and their ratio.

``created_at`` is stamped when the submit's transaction starts, and the task can be seen once
it commits: the figure includes the submit transaction itself (several milliseconds, mostly
the commit's flush to disk), then the notification, the worker's wake-up and the start of
its claim.

The tasks name an input image on a loopback address, which the worker refuses right after the
claim (the task fails and is refunded): what happens after the claim does not change the pickup,
and this way every submit meets idle workers and no render competes for the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

import pickup_sqlite
from queue_support import (
    opendance_env,
    percentile,
    start_workers,
    stop_workers,
    wait_for_idle_workers,
)
from support import (
    DEFAULT_POSTGRES,
    bench_account_key,
    free_port,
    fresh_database,
    plain,
    query,
    wait_until_healthy,
)

SERVE_API_ONLY = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
REFUSED_IMAGE = "http://127.0.0.1:9/first-frame.png"  # private: the worker refuses to fetch it


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a server to create a db on")
    parser.add_argument(
        "--sqlite", action="store_true", help="SQLite and `opendance serve --workers N` instead"
    )
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
            results = pickup_sqlite.measure(args, Path(tmp) / "data")
        _report(args, "SQLite, supervised by serve", results["wake channel"], results["polling"])
        return 0
    results = {}
    with (
        fresh_database(args.postgres, "opendance_bench_pickup") as url,
        tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp,
    ):
        data = Path(tmp) / "data"
        key = asyncio.run(bench_account_key(url, data))
        port = free_port()
        api = subprocess.Popen(
            [*SERVE_API_ONLY, "--port", str(port)],
            env=opendance_env(
                data, url, rate_limit_per_minute="0", account_rate_limit_per_minute="0"
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(port)
            for mode, notify in (("NOTIFY", "true"), ("polling", "false")):
                env = opendance_env(
                    data, url, queue_notify=notify, poll_seconds=str(args.poll_seconds)
                )
                workers = start_workers(args.workers, env)
                try:
                    wait_for_idle_workers(url, args.workers)
                    time.sleep(1.0)  # listening (or not) by now
                    _check_listeners(url, args.workers if notify == "true" else 0)
                    ids = asyncio.run(_submit_one_at_a_time(port, key, url, args.tasks))
                finally:
                    stop_workers(workers)
                results[mode] = asyncio.run(_pickups(url, ids))
        finally:
            api.terminate()
            api.wait(30)
    _report(args, "PostgreSQL", results["NOTIFY"], results["polling"], woken_by="NOTIFY")
    return 0


def _report(
    args: argparse.Namespace,
    where: str,
    woken: list[float],
    poll: list[float],
    *,
    woken_by: str = "wake channel",
) -> None:
    print(
        f"pickup latency (submit -> claim), {args.tasks} tasks each, "
        f"{args.workers} idle workers, {where}"
    )
    for name, values in ((woken_by, woken), (f"polling {args.poll_seconds:g} s", poll)):
        p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
        mean = statistics.mean(values) * 1000
        print(f"{name:14s} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   mean {mean:7.1f} ms")
    print(
        f"ratio {woken_by} / polling: p50 {percentile(woken, 50) / percentile(poll, 50):.3f}, "
        f"p99 {percentile(woken, 99) / percentile(poll, 99):.3f}"
    )


def _check_listeners(url: str, expected: int) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN %'"
    )
    found = asyncio.run(query(url, sql))[0][0]
    if found != expected:
        raise SystemExit(f"expected {expected} listening workers, PostgreSQL shows {found}")


async def _submit_one_at_a_time(port: int, key: str, url: str, count: int) -> list[str]:
    rng = random.Random(7)
    ids = []
    db = await asyncpg.connect(plain(url))
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
        ) as client:
            for number in range(count):
                await asyncio.sleep(rng.uniform(0.05, 0.5))
                body = {
                    "prompt": f"pickup {number}",
                    "resolution": "480p",
                    "duration": 4,
                    "image_urls": [REFUSED_IMAGE],
                }
                response = await client.post("/v1/generate", json=body)
                if response.status_code != 200:
                    raise SystemExit(f"{response.status_code}: {response.text}")
                task_id = response.json()["data"]["task_id"]
                ids.append(task_id)
                deadline = time.monotonic() + 30
                sql = "SELECT finished_at IS NOT NULL FROM tasks WHERE id = $1"
                while not await db.fetchval(sql, task_id):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"task {task_id} was not finished within 30 s")
                    await asyncio.sleep(0.01)
    finally:
        await db.close()
    return ids


async def _pickups(url: str, ids: list[str]) -> list[float]:
    rows = await query(
        url,
        "SELECT extract(epoch FROM started_at - created_at), attempts FROM tasks"
        " WHERE id = ANY($1::text[])",
        ids,
    )
    if len(rows) != len(ids) or any(row[1] != 1 for row in rows):
        raise SystemExit("every task must have been claimed exactly once")
    return [float(row[0]) for row in rows]


if __name__ == "__main__":
    raise SystemExit(main())
