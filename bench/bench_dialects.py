"""The translation of the OpenAI and Ark doors costs nothing: status reads of one finished task
through each door, measured with wrk against one uvicorn process in one run.

    python bench/bench_dialects.py [--seconds 10] [--connections 32] [--rounds 3]

``GET /v1/videos/{id}`` (OpenAI) and ``GET /api/v3/contents/generations/tasks/{id}`` (Ark)
against ``GET /v1/status?task_id=`` (Seedance) of the same task, rounds alternating so that
drifts of a shared machine hit all three alike. Target: each ratio >= 0.9 (medians).

Needs ``wrk`` (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

from bench_api import _prepare, _start, _wrk
from support import free_port, unlimited_server_env

TARGET_RATIO = 0.9


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
        env = unlimited_server_env(data_dir)
        command = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
        server = _start([*command, "--port", str(port)], env, port)
        base = f"http://127.0.0.1:{port}"
        urls = {
            "GET /v1/status": f"{base}/v1/status?task_id={task_id}",
            "GET /v1/videos/{id}": f"{base}/v1/videos/{task_id}",
            "GET /api/v3/…/tasks/{id}": f"{base}/api/v3/contents/generations/tasks/{task_id}",
        }
        runs: dict[str, list[float]] = {name: [] for name in urls}
        try:
            for url in urls.values():  # every door answers the finished task
                answer = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200, (url, answer.text)
            for _ in range(args.rounds):
                for name, url in urls.items():
                    runs[name].append(_wrk(url, key, args))
        finally:
            server.terminate()
            server.wait(30)
    baseline = statistics.median(runs["GET /v1/status"])
    ok = True
    for name, found in runs.items():
        median = statistics.median(found)
        ratio = median / baseline
        verdict = (
            "" if name == "GET /v1/status" else f"  ratio {ratio:.2f} (target >= {TARGET_RATIO})"
        )
        print(f"{name:26} {median:8.0f} req/s  rounds {[round(r) for r in found]}{verdict}")
        ok = ok and ratio >= TARGET_RATIO
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
