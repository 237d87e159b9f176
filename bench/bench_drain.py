"""Drain rate on PostgreSQL: how fast 1, 2 and 4 worker processes empty a pre-filled queue.

    python bench/bench_drain.py [--tasks 48] [--workers 1,2,4]
                                [--postgres postgresql://postgres@127.0.0.1/postgres]

For each worker count, on one fresh PostgreSQL database (created for the run, dropped at the
end): ``--tasks`` preview tasks (480p, 4 s, moving camera: CPU-bound rendering and x264
encoding) are queued first, then that many ``opendance worker`` processes start and empty the
queue. The rate is tasks / (last finished_at - first started_at), both PostgreSQL's clock, so
process start-up is not counted. The workers' CPU time (all threads, from /proc, less what a worker
spends starting up) gives the CPU cost of one task and with it the machine's ceiling: cores /
CPU seconds per task.

Prints tasks/s for each count and the ratio against one worker (the baseline of this run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

from opendance.bootstrap import open_context
from opendance.db import accounts as account_rows
from opendance.services import admin
from opendance.services.submit import submit_generate
from opendance.settings import Settings
from queue_support import (
    cpu_seconds,
    opendance_env,
    start_workers,
    stop_workers,
    wait_for_idle_workers,
)
from support import DEFAULT_POSTGRES, fresh_database, query


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=48)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a server to create a db on")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    # a drain is CPU-bound: other work on the machine shows up in every figure
    print(f"load average before the run: {os.getloadavg()[0]:.2f}", flush=True)
    rates: dict[int, float] = {}
    cpu_per_task: dict[int, float] = {}
    with (
        fresh_database(args.postgres, "opendance_bench_drain") as url,
        tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp,
    ):
        data = Path(tmp) / "data"
        startup_cpu = _startup_cpu(url, data)
        for count in counts:
            ids = asyncio.run(_fill_queue(url, data, args.tasks, f"drain {count}"))
            workers = start_workers(count, opendance_env(data, url, poll_seconds="0.1"))
            try:
                cpu = _wait_drained(url, ids, workers)
            finally:
                stop_workers(workers)
            seconds = asyncio.run(_drain_seconds(url, ids))
            rates[count] = len(ids) / seconds
            cpu_per_task[count] = (cpu - count * startup_cpu) / len(ids)
            print(
                f"{count} worker(s): {len(ids)} tasks in {seconds:6.1f} s = "
                f"{rates[count]:5.2f} tasks/s   ({cpu_per_task[count]:.2f} CPU s per task)",
                flush=True,
            )
    cores = os.cpu_count() or 1
    base = rates[counts[0]]
    cost = cpu_per_task[counts[0]]
    print(
        f"ratio against {counts[0]} worker(s): "
        + ", ".join(f"{n} -> {rates[n] / base:.2f}x" for n in counts)
    )
    print(
        f"ceiling: {cores} cores / {cost:.2f} CPU s per task = {cores / cost:.2f} tasks/s "
        f"({cores / cost / base:.2f}x one worker); one worker already keeps "
        f"{cost * base:.2f} cores busy (render thread + x264 threads)"
    )
    return 0


async def _fill_queue(url: str, data: Path, count: int, prompt: str) -> list[str]:
    """``count`` queued tasks (through the submit service: the charge, the row, the NOTIFY)."""
    ctx = await open_context(Settings(data_dir=data, database_url=url))
    try:
        name = prompt.replace(" ", "-")
        await admin.create_account(ctx, name, 10**9)
        secret = (await admin.create_key(ctx, name)).secret
        async with ctx.db.read() as conn:
            owner = await account_rows.find_key_owner(conn, secret)
        assert owner is not None
        body = {"prompt": prompt, "resolution": "480p", "duration": 4}
        return [
            await submit_generate(ctx, owner, {**body, "seed": number}) for number in range(count)
        ]
    finally:
        await ctx.close()


def _startup_cpu(url: str, data: Path) -> float:
    """The CPU seconds a worker process spends starting up (imports, connections): they are
    not part of any task's cost."""
    asyncio.run(_fill_queue(url, data, 0, "start-up"))  # migrates the fresh database
    workers = start_workers(1, opendance_env(data, url, poll_seconds="0.1"))
    try:
        wait_for_idle_workers(url, 1)
        return cpu_seconds(workers[0].pid)
    finally:
        stop_workers(workers)


def _wait_drained(url: str, ids: list[str], workers: list[subprocess.Popen[bytes]]) -> float:
    """Until every task succeeded; the CPU seconds the workers used (read before they exit)."""
    sql = "SELECT count(*) FROM tasks WHERE id = ANY($1::text[]) AND status = 'succeeded'"
    deadline = time.monotonic() + 60 + 10 * len(ids)
    while asyncio.run(query(url, sql, ids))[0][0] < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("the queue was not drained in time")
        if any(proc.poll() is not None for proc in workers):
            raise SystemExit("a worker exited while draining")
        time.sleep(0.2)
    return sum(cpu_seconds(proc.pid) for proc in workers)


async def _drain_seconds(url: str, ids: list[str]) -> float:
    rows = await query(
        url,
        "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM tasks"
        " WHERE id = ANY($1::text[])",
        ids,
    )
    return float(rows[0][0])


if __name__ == "__main__":
    raise SystemExit(main())
