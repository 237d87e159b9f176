"""Webhook delivery latency against status polling, measured in one run.

    python bench/bench_webhooks.py [--tasks 200] [--workers 2]

Runs ``opendance serve`` (preview engine, 480p 4 s tasks) with a webhook receiver on loopback
and, for the same tasks, a client that polls /v1/status once a second (each task's polling
starts at a random phase). For every task it records when the task became SUCCESS (finished_at
in the database), when the receiver got the webhook, and when the poller first saw SUCCESS.
Prints p50/p99 of both delays and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from support import free_port, wait_until_healthy


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    arrivals: dict[str, float] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived = time.time()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            task_id = httpx.Response(200, content=body).json()["data"]["task_id"]
            arrivals.setdefault(task_id, arrived)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        env = {
            **os.environ,
            "OPENDANCE_DATA_DIR": str(data),
            "OPENDANCE_LOG_LEVEL": "warning",
            "OPENDANCE_ALLOW_PRIVATE_URLS": "true",
            "OPENDANCE_RATE_LIMIT_PER_MINUTE": "0",
            "OPENDANCE_ACCOUNT_RATE_LIMIT_PER_MINUTE": "0",
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "opendance",
                "accounts",
                "create",
                "bench",
                "--credits",
                "100000",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        key_out = subprocess.run(
            [sys.executable, "-m", "opendance", "keys", "create", "bench", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = httpx.Response(200, content=key_out.stdout).json()["key"]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opendance",
                "serve",
                "--no-demo",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(port)
            seen = asyncio.run(_submit_and_poll(port, key, receiver.server_port, args.tasks))
            db = sqlite3.connect(data / "opendance.db")
            finished = {
                row[0]: datetime.fromisoformat(row[1]).replace(tzinfo=UTC).timestamp()
                for row in db.execute("SELECT id, finished_at FROM tasks WHERE status='succeeded'")
            }
            deadline = time.time() + 60
            while len(arrivals) < len(finished) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(60)
            receiver.shutdown()
    hook = sorted(arrivals[t] - finished[t] for t in finished if t in arrivals)
    poll = sorted(seen[t] - finished[t] for t in finished if t in seen)
    print(f"{len(finished)} tasks; webhooks received for {len(hook)}, polls saw {len(poll)}")
    for name, values in (("webhook", hook), ("poll 1 s", poll)):
        p50, p99 = _pct(values, 50) * 1000, _pct(values, 99) * 1000
        mean = statistics.mean(values) * 1000
        print(f"{name:9s} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   mean {mean:7.1f} ms")
    print(
        f"ratio webhook/poll: p50 {_pct(hook, 50) / _pct(poll, 50):.2f}, "
        f"p99 {_pct(hook, 99) / _pct(poll, 99):.2f}"
    )
    return 0


async def _submit_and_poll(port: int, key: str, hook_port: int, count: int) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}"
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        ids = []
        for i in range(count):
            response = await client.post(
                "/v1/generate",
                json={
                    "prompt": f"bench {i}",
                    "resolution": "480p",
                    "duration": 4,
                    "callback_url": f"http://127.0.0.1:{hook_port}/hook",
                },
            )
            ids.append(response.json()["data"]["task_id"])

        async def poll(task_id: str) -> None:
            await asyncio.sleep(random.random())
            while True:
                try:
                    response = await client.get("/v1/status", params={"task_id": task_id})
                except httpx.TransportError:
                    continue  # a keep-alive connection the server closed as we reused it
                data = response.json()
                if data["data"]["status"] == "SUCCESS":
                    seen[task_id] = time.time()
                    return
                await asyncio.sleep(1.0)

        await asyncio.gather(*(poll(t) for t in ids))
    return seen


def _pct(values: list[float], percent: float) -> float:
    index = min(len(values) - 1, max(0, round(percent / 100 * (len(values) - 1))))
    return values[index]


if __name__ == "__main__":
    raise SystemExit(main())
