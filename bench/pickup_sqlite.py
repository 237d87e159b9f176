"""Pickup latency on SQLite (``bench_pickup.py --sqlite``): ``opendance serve --workers N`` on a
fresh data directory, its supervised workers woken through the wake channel, then polling only
(``OPENDANCE_QUEUE_NOTIFY=false``), in one run.

The same measure as on PostgreSQL: tasks submitted one at a time through the API, each after the
previous one is finished and a random pause; pickup latency is ``started_at - created_at`` of
each task. On SQLite both are the machine's clock (every process is on the one machine):
``created_at`` is stamped when the submit's insert runs, inside its transaction, so the figure
includes the rest of that transaction (mostly the commit's fsync), the wake-up and the start of
the claim.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from queue_support import opendance_env
from support import bench_account_key, free_port, wait_until_healthy

SERVE = [sys.executable, "-m", "opendance", "serve", "--no-demo"]
REFUSED_IMAGE = "http://127.0.0.1:9/first-frame.png"  # private: the worker refuses to fetch it


def measure(args: argparse.Namespace, data: Path) -> dict[str, list[float]]:
    """Pickup latencies (seconds) of the wake channel and of polling only, same data dir."""
    url = f"sqlite+aiosqlite:///{data / 'opendance.db'}"
    key = asyncio.run(bench_account_key(url, data))
    results: dict[str, list[float]] = {}
    for mode, notify in (("wake channel", "true"), ("polling", "false")):
        port = free_port()
        env = opendance_env(
            data,
            url,
            queue_notify=notify,
            poll_seconds=str(args.poll_seconds),
            rate_limit_per_minute="0",
            account_rate_limit_per_minute="0",
        )
        serve = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(port)
            _wait_for_idle_workers(data, args.workers)
            time.sleep(1.0)  # joined the channel (or not) by now, and waiting
            _check_listeners(data, args.workers if notify == "true" else 0)
            ids = asyncio.run(_submit_one_at_a_time(port, key, data, args.tasks))
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(120)
        results[mode] = _pickups(data, ids)
    return results


def _db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "opendance.db", timeout=30)


def _wait_for_idle_workers(data: Path, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with _db(data) as conn:
            idle = conn.execute("SELECT count(*) FROM workers WHERE state = 'idle'").fetchone()[0]
        if idle >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not report idle within {seconds:g} s")
        time.sleep(0.2)


def _check_listeners(data: Path, expected: int) -> None:
    directory = data / "opendance.db-wake"
    found = len(list(directory.glob("*.sock"))) if directory.is_dir() else 0
    if found != expected:
        raise SystemExit(f"expected {expected} workers in the wake channel, found {found}")


async def _submit_one_at_a_time(port: int, key: str, data: Path, count: int) -> list[str]:
    rng = random.Random(7)
    ids = []
    headers = {"Authorization": f"Bearer {key}"}
    with _db(data) as db:
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
                sql = "SELECT finished_at IS NOT NULL FROM tasks WHERE id = ?"
                while not db.execute(sql, (task_id,)).fetchone()[0]:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"task {task_id} was not finished within 30 s")
                    await asyncio.sleep(0.01)
    return ids


def _pickups(data: Path, ids: list[str]) -> list[float]:
    sql = "SELECT created_at, started_at, attempts FROM tasks WHERE id = ?"
    with _db(data) as conn:
        rows = [row for task_id in ids for row in conn.execute(sql, (task_id,))]
    if len(rows) != len(ids) or any(row[2] != 1 for row in rows):
        raise SystemExit("every task must have been claimed exactly once")
    return [
        (datetime.fromisoformat(started) - datetime.fromisoformat(created)).total_seconds()
        for created, started, _ in rows
    ]
