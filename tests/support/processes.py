"""Real `opendance` processes for tests: the CLI, the server, standalone workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import postgres

FAST_QUEUE_ENV = {
    "OPENDANCE_POLL_SECONDS": "0.1",
    "OPENDANCE_HEARTBEAT_SECONDS": "0.5",
    "OPENDANCE_LEASE_SECONDS": "3",
    "OPENDANCE_DRAIN_SECONDS": "60",
}


def opendance_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    env["OPENDANCE_DATA_DIR"] = str(data_dir)
    if (database_url := postgres.current_url()) is not None:
        env["OPENDANCE_DATABASE_URL"] = database_url
    env.update(FAST_QUEUE_ENV)
    env.update(extra)
    return env


def cli(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "opendance", *args],
        env=opendance_env(data_dir, **(env or {})),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"opendance {' '.join(args)} failed: {result.stderr}")
    return result


def cli_json(data_dir: Path, *args: str) -> Any:
    return json.loads(cli(data_dir, *args, "--json").stdout)


@dataclass
class ServeProcess:
    data_dir: Path
    port: int
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opendance", "serve", "--port", str(self.port), *self.args],
            env=opendance_env(self.data_dir, **self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output()}")
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not come up:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def demo_key(self, timeout: float = 30) -> str:
        """The demo key from the banner (printed just after the port is bound)."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(r"^\s+(od_[A-Za-z0-9_\-]+)\s*$", self.output(), re.MULTILINE)
            if match:
                return match.group(1)
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def stop(self, timeout: float = 90) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        return self.proc.returncode
