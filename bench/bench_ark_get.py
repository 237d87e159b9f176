"""The Ark door's poll against the Seedance one, measured with wrk in one run.

    python bench/bench_ark_get.py [--seconds 10] [--connections 32] [--rounds 3]

``GET /api/v3/contents/generations/tasks/{id}`` and ``GET /v1/status?task_id={id}`` of the same
finished task (created through the Ark door, so its object carries content and usage) on one
``opendance serve --workers 0`` (one uvicorn process, keep-alive, rate limits off), alternated
round by round so that drifts of a shared machine hit both alike. Both are one read that
authenticates the key and fetches the task; the Ark poll only renders another JSON object.
Target: the Ark poll serves >= 0.9 x the requests per second of the Seedance poll.

Needs ``wrk`` (Debian package ``wrk``). wrk runs one thread; the server gets the other core.
"""

from __future__ import annotations

import argparse
import asyncio
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
from opendance.db.accounts import find_key_owner
from opendance.domain.capabilities import SERVES_EVERYTHING
from opendance.domain.task_view import ResultFiles
from opendance.services import admin, tasks
from opendance.services.ark_create import create_ark_task
from opendance.settings import Settings
from support import free_port, wait_until_healthy

TARGET_RATIO = 0.9
ARK_TASKS = "/api/v3/contents/generations/tasks"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        key, task_id = asyncio.run(_prepare(data_dir))
        port = free_port()
        env = {
            **os.environ,
            "OPENDANCE_DATA_DIR": str(data_dir),
            "OPENDANCE_RATE_LIMIT_PER_MINUTE": "0",
            "OPENDANCE_ACCOUNT_RATE_LIMIT_PER_MINUTE": "0",
            "OPENDANCE_LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(port)
            base = f"http://127.0.0.1:{port}"
            status_url = f"{base}/v1/status?task_id={task_id}"
            ark_url = f"{base}{ARK_TASKS}/{task_id}"
            shown = httpx.get(ark_url, headers={"Authorization": f"Bearer {key}"}).json()
            assert shown["status"] == "succeeded" and shown["usage"], shown
            status_runs: list[float] = []
            ark_runs: list[float] = []
            for _ in range(args.rounds):
                status_runs.append(_wrk(status_url, key, args))
                ark_runs.append(_wrk(ark_url, key, args))
        finally:
            server.terminate()
            server.wait(30)
    status, ark = statistics.median(status_runs), statistics.median(ark_runs)
    ratio = ark / status
    print(f"rounds: status {[round(r) for r in status_runs]}, ark {[round(r) for r in ark_runs]}")
    ark_route = f"GET {ARK_TASKS}/{{id}}"
    print(f"{'GET /v1/status?task_id=':<48}{status:8.0f} req/s (median)")
    print(f"{ark_route:<48}{ark:8.0f} req/s (median)")
    print(f"{'ark / status ratio':<48}{ratio:8.2f}  (target >= {TARGET_RATIO})")
    return 0 if ratio >= TARGET_RATIO else 1


async def _prepare(data_dir: Path) -> tuple[str, str]:
    """An account, its key, and one succeeded task created through the Ark door."""
    ctx = await open_context(Settings(data_dir=data_dir))
    try:
        await admin.create_account(ctx, "bench", 10**9)
        key = (await admin.create_key(ctx, "bench")).secret
        async with ctx.db.read() as conn:
            owner = await find_key_owner(conn, key)
        assert owner is not None
        body = {"model": "bench", "content": [{"type": "text", "text": "bench"}]}
        task_id = await create_ark_task(ctx, owner, body)
        claimed = await tasks.claim(
            ctx, worker_id="bench", capabilities=SERVES_EVERYTHING, engine=None, model=None
        )
        assert claimed is not None and claimed.id == task_id
        assert await tasks.complete(ctx, claimed, ResultFiles(f"videos/{task_id}.mp4"))
        return key, task_id
    finally:
        await ctx.close()


def _wrk(url: str, key: str, args: argparse.Namespace) -> float:
    script = textwrap.dedent(f"""
        wrk.headers["Authorization"] = "Bearer {key}"
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


if __name__ == "__main__":
    raise SystemExit(main())
