"""What large bodies from a key without credits cost the API's memory, in one run.

    python bench/bench_large_bodies.py [--parallel 12] [--image-mb 20]

Sends ``--parallel`` concurrent ``POST /v1/generate`` with a ``data:`` image of about 20 MB
(27 MB of base64) from an account with 0 credits, to ``opendance serve --workers 0`` twice:
with the large-body bound off (``OPENDANCE_LARGE_BODIES_IN_FLIGHT=0``) and at its default.
Prints the API's peak resident memory (VmHWM) above its idle size for each, and the ratio.
Every answer must be 402 (or 503 SERVER_BUSY with the bound on). Target: ratio <= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from opendance.bootstrap import open_context
from opendance.services import admin
from opendance.settings import Settings
from support import free_port, unlimited_server_env, wait_until_healthy

TARGET_RATIO = 0.5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallel", type=int, default=12)
    parser.add_argument("--image-mb", type=float, default=20)
    args = parser.parse_args()
    # random bytes behind a PNG signature: the server must refuse before looking at them
    payload = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(int(args.image_mb * 1_000_000) - 8)
    body = (
        b'{"prompt":"memory","resolution":"480p","duration":4,"image_urls":["data:image/png;base64,'
        + base64.b64encode(payload)
        + b'"]}'
    )
    peaks = {}
    for label, slots in (("unbounded", "0"), ("bounded", None)):
        peaks[label] = _peak_above_idle(body, args.parallel, slots)
        print(f"{label:10} peak {peaks[label] / 2**20:8.0f} MiB above idle")
    ratio = peaks["bounded"] / peaks["unbounded"]
    print(f"ratio      {ratio:8.2f}  (target <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


def _peak_above_idle(body: bytes, parallel: int, slots: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="opendance-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        key = asyncio.run(_broke_key(data_dir))
        port = free_port()
        env = unlimited_server_env(data_dir)
        if slots is not None:
            env["OPENDANCE_LARGE_BODIES_IN_FLIGHT"] = slots
        command = [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--no-demo"]
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_healthy(port)
            idle = _memory(server.pid, "VmRSS")
            asyncio.run(_flood(f"http://127.0.0.1:{port}/v1/generate", key, body, parallel))
            return _memory(server.pid, "VmHWM") - idle
        finally:
            server.terminate()
            server.wait(30)


async def _broke_key(data_dir: Path) -> str:
    ctx = await open_context(Settings(data_dir=data_dir))
    try:
        await admin.create_account(ctx, "broke", 0)
        return (await admin.create_key(ctx, "broke")).secret
    finally:
        await ctx.close()


async def _flood(url: str, key: str, body: bytes, parallel: int) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=120) as client:
        answers = await asyncio.gather(
            *(client.post(url, content=body, headers=headers) for _ in range(parallel))
        )
    codes = sorted(answer.status_code for answer in answers)
    assert set(codes) <= {402, 503}, codes
    print(f"  answers: {codes.count(402)} x 402, {codes.count(503)} x 503")


def _memory(pid: int, field: str) -> int:
    """A VmRSS/VmHWM figure of ``pid`` in bytes; with ``serve``'s API in a child process, of
    the largest process in the tree."""
    pids = [pid, *_children(pid)]
    return max(_status_field(one, field) for one in pids)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path(f"/proc/{pid}/task").iterdir():
        children = (entry / "children").read_text().split()
        for child in children:
            found += [int(child), *_children(int(child))]
    return found


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
