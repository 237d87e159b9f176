"""What goes wrong during the soak, on purpose: workers killed with SIGKILL (and replaced), and one
worker frozen with SIGSTOP while it renders, kept frozen past its lease and then resumed."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from opendance.db.tasks import TaskRecord
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import ResultFiles
from tests.soak.fleet import Fleet, WorkerSlot
from tests.soak.queue_view import HeldLease, QueueView
from tests.soak.stall import StallableRelay

LEASE_LOST_LINE = "task {task_id}: lease lost before completion"


@dataclass(frozen=True)
class Kill:
    slot: int
    pid: int
    interrupted: tuple[str, int] | None  # (task, fencing token) it held when it died
    finished_before: int  # tasks finished when it happened


@dataclass(frozen=True)
class Freeze:
    slot: WorkerSlot
    lost: HeldLease  # the lease it held when it was stopped
    winner: TaskRecord  # the task as the worker that took it over completed it
    stopped_seconds: float
    log: Path


@dataclass
class ChaosRecord:
    kills: list[Kill] = field(default_factory=list)
    freeze: Freeze | None = None

    @property
    def interrupted_leases(self) -> set[tuple[str, int]]:
        return {kill.interrupted for kill in self.kills if kill.interrupted}


async def kill_workers(
    fleet: Fleet, queue: QueueView, record: ChaosRecord, *, kills: int, total: int, seed: int
) -> None:
    """``kill -9`` a random worker ``kills`` times, spread over the first ~80 % of the run,
    restarting each one at once (as a service manager would)."""
    rng = random.Random(seed)
    for number in range(kills):
        await queue.wait_terminal((number + 1) * total // (kills + 5))
        victim = rng.choice([slot for slot in fleet.workers if slot.alive() and not slot.spared])
        pid = victim.pid
        victim.kill()
        # read after the death: nothing can change the dead worker's lease any more
        interrupted = await queue.lease_of_pid(pid)
        record.kills.append(Kill(victim.index, pid, interrupted, await queue.terminal()))
        victim.start()
        await asyncio.sleep(rng.uniform(0.2, 1.0))


async def freeze_one_worker(
    fleet: Fleet, queue: QueueView, record: ChaosRecord, *, relay: StallableRelay, after: int
) -> None:
    """SIGSTOP the worker whose database connections go through ``relay`` while it renders;
    once another worker has taken the task over and finished it, SIGCONT it and watch its own
    completion be refused.

    Left alone, the resumed worker's overdue heartbeat would usually see the lost lease first
    and cancel the render before anything is uploaded, which is right but leaves the fenced
    completion unexercised. So its database is out of reach while it resumes (the relay
    stalls, as a partitioned network would): the heartbeat hangs, the render runs to the end,
    the video and poster are uploaded and the completion is sent. Then the relay lets
    everything through, and the completion, with its stale fencing token, must be refused.
    """
    await queue.wait_terminal(after)
    slot, lease = await _freeze_mid_render(fleet, queue, fleet.workers[fleet.relayed_slot])
    stopped = time.monotonic()
    # the video and its stills are uploaded side by side, and the completion is sent right
    # after the last of them
    stale = [
        fleet.data_dir / "objects" / key
        for key in ResultFiles.made_by(lease.task_id, lease.token).keys
    ]
    relay.stall()
    try:
        async with asyncio.timeout(300):
            winner = await queue.wait_task(
                lease.task_id,
                lambda t: t.status is TaskState.SUCCEEDED and t.lease_token > lease.token,
            )
        stopped_seconds = time.monotonic() - stopped
        slot.thaw()
        async with asyncio.timeout(120):
            while not all(path.exists() for path in stale):  # noqa: ASYNC110 - another process writes them
                await asyncio.sleep(0.05)
    finally:
        relay.resume()
    log = slot.log_path
    async with asyncio.timeout(120):
        await _wait_for_line(log, LEASE_LOST_LINE.format(task_id=lease.task_id))
    slot.spared = False
    record.freeze = Freeze(slot, lease, winner, stopped_seconds, log)


async def _freeze_mid_render(
    fleet: Fleet, queue: QueueView, candidate: WorkerSlot
) -> tuple[WorkerSlot, HeldLease]:
    """The candidate worker stopped while it renders (progress well under way, far from the
    end)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rendering = [
            lease
            for lease in await queue.held_leases()
            if 5 <= lease.progress <= 60 and fleet.by_pid(lease.pid) is candidate
        ]
        if rendering:
            [lease] = rendering
            candidate.spared = True
            candidate.freeze()
            if await queue.still_held_and_unlocked(lease):
                return candidate, lease
            candidate.thaw()  # it finished, or it was stopped inside a transaction: another try
            candidate.spared = False
        await asyncio.sleep(0.05)
    raise AssertionError("the candidate worker was never seen mid-render")


async def _wait_for_line(path: Path, line: str) -> None:
    # another process writes it: nothing to wait on but the file itself
    while line not in await asyncio.to_thread(path.read_text, errors="replace"):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
