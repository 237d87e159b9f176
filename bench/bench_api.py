"""API throughput, measured with wrk against real uvicorn processes in one run.

    python bench/bench_api.py [--seconds 10] [--connections 32] [--rounds 3]
    python bench/bench_api.py --postgres [URL]

1. ``GET /v1/status`` of a finished task on ``opendance serve --workers 0`` (one uvicorn process,
   keep-alive, rate limit off) against a bare FastAPI endpoint that returns the very same JSON
   from memory, served by the same uvicorn configuration. Target: ratio >= 0.5.
2. ``POST /v1/generate`` accepts per second on SQLite at the same concurrency (a figure; every
   accepted request is a committed transaction: debit, task row, ledger row).

With ``--postgres`` (default URL ``postgresql://postgres@127.0.0.1/postgres``, or
``OPENDANCE_TEST_POSTGRES_URL``) it measures instead ``GET /v1/status`` of a finished task on a
SQLite file against the same on a fresh PostgreSQL database (created for the run, dropped at the
end), one server each, alternated rounds. Target: PostgreSQL >= 0.8 of SQLite.

Needs ``wrk`` (Debian package ``wrk``). wrk runs one thread; the server gets the other core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import httpx

from opendance.bootstrap import open_context
from opendance.settings import Settings
from support import (
    DEFAULT_POSTGRES,
    finished_task,
    free_port,
    fresh_database,
    unlimited_server_env,
    wait_until_healthy,
)

TARGET_STATUS_RATIO = 0.5
TARGET_POSTGRES_RATIO = 0.8
SERVE_API_ONLY = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
ROOT = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--log-level",
        default="warning",
        help="server log level; 'info' writes an access line per request",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        default=None,
        metavar="URL",
        help="status on PostgreSQL against SQLite instead (a server to create a database on)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.postgres:
        return _postgres_against_sqlite(args)
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        key, task_id = asyncio.run(_prepare(data_dir))
        port, bare_port = free_port(), free_port()
        env = unlimited_server_env(data_dir, args.log_level)
        server = _start([*SERVE_API_ONLY, "--port", str(port)], env, port)
        status_url = f"http://127.0.0.1:{port}/v1/status?task_id={task_id}"
        body = _checked_body(status_url, key)
        bare = _start(
            [sys.executable, str(ROOT / "bare_status_app.py"), str(bare_port)],
            {**os.environ, "BARE_BODY": body},
            bare_port,
        )
        bare_url = f"http://127.0.0.1:{bare_port}/v1/status?task_id={task_id}"
        ours_runs: list[float] = []
        bare_runs: list[float] = []
        try:
            # Alternate the two so that drifts of a shared machine hit both alike.
            for _ in range(args.rounds):
                ours_runs.append(_wrk(status_url, key, args))
                bare_runs.append(_wrk(bare_url, key, args))
            submit = _wrk(f"http://127.0.0.1:{port}/v1/generate", key, args, post=True)
        finally:
            for proc in (server, bare):
                proc.terminate()
                proc.wait(30)
    ours, baseline = statistics.median(ours_runs), statistics.median(bare_runs)
    ratio = ours / baseline
    print(f"rounds: ours {[round(r) for r in ours_runs]}, bare {[round(r) for r in bare_runs]}")
    print(f"GET /v1/status        {ours:8.0f} req/s (median, log level {args.log_level})")
    print(f"bare FastAPI baseline {baseline:8.0f} req/s")
    print(f"status ratio          {ratio:8.2f}  (target >= {TARGET_STATUS_RATIO})")
    print(
        f"POST /v1/generate     {submit:8.0f} accepted/s on SQLite at concurrency "
        f"{args.connections}"
    )
    return 0 if ratio >= TARGET_STATUS_RATIO else 1


def _postgres_against_sqlite(args: argparse.Namespace) -> int:
    """``GET /v1/status`` served over PostgreSQL against over SQLite, alternated rounds."""
    with (
        fresh_database(args.postgres, "opendance_bench_api") as pg_url,
        tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp,
    ):
        servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
        try:
            for name, database_url in (("SQLite", None), ("PostgreSQL", pg_url)):
                data_dir = Path(tmp) / name.lower()
                key, task_id = asyncio.run(_prepare(data_dir, database_url))
                port = free_port()
                env = unlimited_server_env(data_dir, args.log_level)
                env.pop("OPENDANCE_DATABASE_URL", None)
                if database_url:
                    env["OPENDANCE_DATABASE_URL"] = database_url
                proc = _start([*SERVE_API_ONLY, "--port", str(port)], env, port)
                url = f"http://127.0.0.1:{port}/v1/status?task_id={task_id}"
                servers[name] = proc, url, key
                _checked_body(url, key)
            runs: dict[str, list[float]] = {name: [] for name in servers}
            # Alternate the two so that drifts of a shared machine hit both alike.
            for _ in range(args.rounds):
                for name, (_proc, url, key) in servers.items():
                    runs[name].append(_wrk(url, key, args))
        finally:
            for proc, _url, _key in servers.values():
                proc.terminate()
                proc.wait(30)
    sqlite, pg = statistics.median(runs["SQLite"]), statistics.median(runs["PostgreSQL"])
    ratio = pg / sqlite
    for name, values in runs.items():
        print(f"{name:11s} rounds {[round(v) for v in values]}")
    print(f"GET /v1/status on SQLite      {sqlite:8.0f} req/s (median, log level {args.log_level})")
    print(f"GET /v1/status on PostgreSQL  {pg:8.0f} req/s (median)")
    print(f"ratio PostgreSQL / SQLite     {ratio:8.2f}  (target >= {TARGET_POSTGRES_RATIO})")
    return 0 if ratio >= TARGET_POSTGRES_RATIO else 1


def _checked_body(status_url: str, key: str) -> str:
    body = httpx.get(status_url, headers={"Authorization": f"Bearer {key}"}).text
    assert json.loads(body)["data"]["status"] == "SUCCESS", body
    return body


async def _prepare(data_dir: Path, database_url: str | None = None) -> tuple[str, str]:
    """An account with plenty of credits, a key, and one finished task to poll."""
    ctx = await open_context(Settings(data_dir=data_dir, database_url=database_url))
    try:
        return await finished_task(ctx, "bench")
    finally:
        await ctx.close()


def _wrk(url: str, key: str, args: argparse.Namespace, *, post: bool = False) -> float:
    script = textwrap.dedent(f"""
        wrk.headers["Authorization"] = "Bearer {key}"
        {'wrk.method = "POST"' if post else ""}
        {'wrk.body = [[{"prompt": "bench", "resolution": "480p", "duration": 4}]]' if post else ""}
        {'wrk.headers["Content-Type"] = "application/json"' if post else ""}
        done = function(summary, latency, requests)
          io.write(string.format("ERRORS %d %d\\n", summary.errors.status, summary.requests))
        end
    """)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        _run_wrk(url, handle.name, 2, args.connections)  # warm-up
        out = _run_wrk(url, handle.name, args.seconds, args.connections)
    finally:
        os.unlink(handle.name)
    errors = re.search(r"ERRORS (\d+) (\d+)", out)
    if errors and int(errors.group(1)):
        raise SystemExit(f"{errors.group(1)} non-2xx answers from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def _run_wrk(url: str, script: str, seconds: int, connections: int) -> str:
    return subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(port)
    except SystemExit:
        proc.kill()
        raise
    return proc


if __name__ == "__main__":
    raise SystemExit(main())
