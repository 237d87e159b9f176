"""The deployment under test, as real processes: API replicas (``opendance serve --workers 0``)
and standalone ``opendance worker`` processes on one PostgreSQL database and one data directory
(the local object store is shared the way a network file system would share it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.live import free_port
from tests.support.processes import ServeProcess, opendance_env


@dataclass
class WorkerSlot:
    """One worker position of the fleet: a process, replaced by a fresh one after each kill.
    Every process gets its own log file, so a line can be traced to the process that wrote it."""

    index: int
    data_dir: Path
    env: dict[str, str]
    logs_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    generation: int = 0
    logs: list[Path] = field(default_factory=list)
    frozen: bool = False  # SIGSTOPped right now
    spared: bool = False  # in the middle of an experiment: no kill may pick it

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.logs[-1]

    def start(self) -> WorkerSlot:
        self.generation += 1
        path = self.logs_dir / f"worker-{self.index}-{self.generation}.log"
        self.logs.append(path)
        with path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opendance", "worker"],
                env=opendance_env(self.data_dir, **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9``: no drain, no goodbye; the lease runs out and another worker reaps it."""
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(30)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM (a drain) and the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs if path.exists())


@dataclass
class Fleet:
    data_dir: Path
    env: dict[str, str]
    replicas: list[ServeProcess] = field(default_factory=list)
    workers: list[WorkerSlot] = field(default_factory=list)
    # the one worker whose database connections go through a stallable relay (see stall.py)
    relayed_slot: int = 0
    relayed_database_url: str | None = None

    @property
    def api_urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def start(self, *, replicas: int, workers: int) -> Fleet:
        ports = [free_port() for _ in range(replicas)]
        # One public URL for every replica, as behind a load balancer: the status bodies (and
        # the signed video URLs in them) must then be the same whichever replica answers.
        env = {"OPENDANCE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}", **self.env}
        for port in ports:
            replica = ServeProcess(self.data_dir, port, ("--workers", "0", "--no-demo"), env=env)
            self.replicas.append(replica.start())
        logs_dir = self.data_dir.parent
        for index in range(workers):
            slot_env = env
            if index == self.relayed_slot and self.relayed_database_url:
                slot_env = {**env, "OPENDANCE_DATABASE_URL": self.relayed_database_url}
            slot = WorkerSlot(index, self.data_dir, slot_env, logs_dir)
            self.workers.append(slot.start())
        return self

    def by_pid(self, pid: int) -> WorkerSlot | None:
        return next((slot for slot in self.workers if slot.alive() and slot.pid == pid), None)

    def stop(self) -> None:
        for slot in self.workers:
            if slot.frozen:
                slot.thaw()
            if slot.alive():
                slot.stop()
        for replica in self.replicas:
            if replica.proc is not None:
                replica.stop()
