"""Submit -> done on PostgreSQL: the queue's own overhead around a model that only sleeps.

    python bench/bench_submit_done.py [--tasks 100] [--sleep-ms 50]
                                      [--postgres postgresql://postgres@127.0.0.1/postgres]

One ``opendance serve --workers 0`` on a fresh PostgreSQL database (created for the run,
dropped at the end) and one worker process whose model is ``time.sleep``: it waits for the
queue's NOTIFY (``tasks.queued_listener``, as ``opendance worker``), claims with the worker's
claim (``tasks.claim``), sleeps ``--sleep-ms``, and completes with the worker's fenced
completion (``tasks.complete``); no video is made, so what remains is what a broker-based
stack with the same sleeping task does too (broker push, worker pop, result write, client
read). A client submits one task at a time through ``POST /v1/generate`` (after a random pause
of 0.05-0.3 s) and polls ``GET /v1/status`` every millisecond until it reads SUCCESS.

Overhead = (SUCCESS seen - submit sent) - sleep; target p50 <= 19 ms. Also printed, to show
where it goes: the submit's round trip (client clock), the pickup (submit's transaction start
-> claim's transaction start) and claim -> completion less the sleep (PostgreSQL's clock), and
the baseline of this server: a one-row durable commit, of which the path waits for three
(submit, claim, completion). Polling adds up to a millisecond.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from opendance.bootstrap import open_context
from opendance.domain.capabilities import EngineCapabilities
from opendance.domain.task_view import ResultFiles
from opendance.services import tasks
from opendance.settings import Settings
from queue_support import opendance_env, percentile
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
SLEEP_WORKER = [sys.executable, __file__]
TARGET_P50_MS = 19.0
STATUS_POLL_SECONDS = 0.001


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--sleep-ms", type=float, default=50)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a server to create a db on")
    parser.add_argument("--sleep-worker", nargs=2, metavar=("URL", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sleep_worker:
        url, data = args.sleep_worker
        asyncio.run(_sleep_worker(url, Path(data), args.sleep_ms / 1000))
        return 0
    with (
        fresh_database(args.postgres, "opendance_bench_done") as url,
        tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp,
    ):
        data = Path(tmp) / "data"
        key = asyncio.run(bench_account_key(url, data))
        port = free_port()
        env = opendance_env(data, url, rate_limit_per_minute="0", account_rate_limit_per_minute="0")
        api = subprocess.Popen(
            [*SERVE_API_ONLY, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = subprocess.Popen(
            [*SLEEP_WORKER, "--sleep-ms", str(args.sleep_ms), "--sleep-worker", url, str(data)],
            env=env,
        )
        try:
            wait_until_healthy(port)
            time.sleep(1.0)  # the worker listens by now
            seen = asyncio.run(_submit_one_at_a_time(port, key, args.tasks))
            phases = asyncio.run(_phases(url, list(seen)))
            commits = asyncio.run(_durable_commits(url, 50))
        finally:
            worker.terminate()
            api.terminate()
            worker.wait(30)
            api.wait(30)
    sleep = args.sleep_ms / 1000
    overhead = [(done - sent) - sleep for sent, done, _ in seen.values()]
    submits = [accepted - sent for sent, _, accepted in seen.values()]
    print(
        f"submit -> SUCCESS seen, {args.tasks} tasks one at a time, "
        f"model sleeps {args.sleep_ms:g} ms"
    )
    in_worker = [held - sleep for _, held in phases]
    for name, values in (
        ("overhead", overhead),
        ("  submit round trip", submits),
        ("  pickup (db clock)", [pickup for pickup, _ in phases]),
        ("  claim to complete", in_worker),
        ("a durable commit", commits),
    ):
        p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
        print(f"{name:20s} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    p50 = percentile(overhead, 50) * 1000
    print(f"overhead p50 / target {p50:.1f} / {TARGET_P50_MS:g} ms = {p50 / TARGET_P50_MS:.2f}")
    return 0 if p50 <= TARGET_P50_MS else 1


async def _sleep_worker(url: str, data: Path, sleep: float) -> None:
    """A worker whose model sleeps: woken by NOTIFY, the worker's claim and completion."""
    ctx = await open_context(Settings(data_dir=data, database_url=url), run_migrations=False)
    wake = asyncio.Event()
    listener = tasks.queued_listener(ctx, wake.set)
    everything = EngineCapabilities(audio=True, image_to_video=True)
    try:
        while True:
            await listener.ensure()
            wake.clear()
            task = await tasks.claim(
                ctx, worker_id="sleeper", capabilities=everything, engine="sleep", model=None
            )
            if task is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.5)
                continue
            await asyncio.sleep(sleep)
            files = ResultFiles(f"videos/{task.id}.mp4")
            if not await tasks.complete(ctx, task, files):
                raise SystemExit(f"lost the lease of {task.id}")
    finally:
        await listener.close()
        await ctx.close()


async def _submit_one_at_a_time(
    port: int, key: str, count: int
) -> dict[str, tuple[float, float, float]]:
    """Per task: when the submit was sent, when SUCCESS was seen, when the submit was answered
    (perf_counter seconds)."""
    rng = random.Random(7)
    seen: dict[str, tuple[float, float, float]] = {}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        for number in range(count):
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            body = {"prompt": f"done {number}", "resolution": "480p", "duration": 4}
            sent = time.perf_counter()
            response = await client.post("/v1/generate", json=body)
            accepted = time.perf_counter()
            if response.status_code != 200:
                raise SystemExit(f"{response.status_code}: {response.text}")
            task_id = response.json()["data"]["task_id"]
            deadline = sent + 30
            while True:
                status = await client.get("/v1/status", params={"task_id": task_id})
                if status.json()["data"]["status"] == "SUCCESS":
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"task {task_id} was not done within 30 s")
                await asyncio.sleep(STATUS_POLL_SECONDS)
            seen[task_id] = (sent, time.perf_counter(), accepted)
    return seen


async def _phases(url: str, ids: list[str]) -> list[tuple[float, float]]:
    """Per task, by PostgreSQL's clock: submit's transaction start -> claim's, and claim's ->
    completion's (the sleep included)."""
    rows = await query(
        url,
        "SELECT extract(epoch FROM started_at - created_at),"
        " extract(epoch FROM finished_at - started_at) FROM tasks WHERE id = ANY($1::text[])",
        ids,
    )
    return [(float(row[0]), float(row[1])) for row in rows]


async def _durable_commits(url: str, count: int) -> list[float]:
    """The baseline of this server: one-row inserts, each its own durable commit (submit,
    claim and completion each wait for one)."""
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute("CREATE TABLE bench_commits (n int)")
        times = []
        for number in range(count):
            started = time.perf_counter()
            await conn.execute("INSERT INTO bench_commits VALUES ($1)", number)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
