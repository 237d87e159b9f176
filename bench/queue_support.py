"""What the queue benchmarks share: `opendance worker` processes on a PostgreSQL database
(support.fresh_database), and direct looks at its rows (all times there are PostgreSQL's clock)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import query


def opendance_env(data_dir: Path, database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    env.update(
        OPENDANCE_DATA_DIR=str(data_dir),
        OPENDANCE_DATABASE_URL=database_url,
        OPENDANCE_LOG_LEVEL="warning",
        **{f"OPENDANCE_{name.upper()}": value for name, value in settings.items()},
    )
    return env


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "opendance", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def wait_for_idle_workers(url: str, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    sql = "SELECT count(*) FROM workers WHERE state = 'idle'"
    while asyncio.run(query(url, sql))[0][0] < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not report idle within {seconds:g} s")
        time.sleep(0.2)


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * (len(ordered) - 1))))
    return ordered[index]
