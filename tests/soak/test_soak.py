"""Soak with chaos on PostgreSQL: 2 API replicas and 4 worker processes on a fresh database,
N tasks from 8 clients (4 accounts, 2 keys each) while workers are killed with SIGKILL 20
times and one is frozen with SIGSTOP past its lease. Every task must succeed exactly once, be
charged exactly once, and be downloadable, and both replicas must tell the same story.

``SOAK_TASKS`` sets N: 200 in ``make test`` (1.5-2.5 minutes on 2 cores, the same chaos), the
full 1,000 with ``make soak`` (about 6 minutes: a 480p 4 s task costs about 0.8 CPU s).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from opendance.bootstrap import open_context
from opendance.db.tasks import TaskRecord
from opendance.domain.task_view import ResultFiles
from opendance.settings import Settings
from tests.soak import audit
from tests.soak.chaos import ChaosRecord, freeze_one_worker, kill_workers
from tests.soak.fleet import Fleet
from tests.soak.load import PRICE, make_clients, submit_all
from tests.soak.queue_view import QueueView
from tests.soak.stall import StallableRelay
from tests.support import postgres

pytestmark = pytest.mark.slow

TASKS = int(os.environ.get("SOAK_TASKS", "200"))
KILLS = 20
REPLICAS, WORKERS = 2, 4
ACCOUNTS, KEYS_PER_ACCOUNT = 4, 2
SEED = 20_260_207

FLEET_ENV = {
    # Short leases so that a killed worker's task is back in the queue within seconds.
    "OPENDANCE_LEASE_SECONDS": "3",
    "OPENDANCE_HEARTBEAT_SECONDS": "0.5",
    "OPENDANCE_POLL_SECONDS": "0.2",
    # Every kill and the freeze cost the task they hit one attempt, and a requeued task is the
    # oldest in the queue, so the next claim takes it again: by chance the same task can be
    # hit several times in a row. With the default limit (3) 20 kills could fail a task; the
    # soak is about losing nothing, so the limit is above any number of interruptions it makes.
    "OPENDANCE_MAX_ATTEMPTS": str(KILLS + 10),
    "OPENDANCE_DRAIN_SECONDS": "60",
}


@pytest.fixture
def soak_database() -> Iterator[str]:
    postgres.require_server()
    name = postgres.create_database("opendance_soak")
    try:
        yield postgres.database_url(name)
    finally:
        postgres.drop_database(name)


async def test_soak_with_kills_and_a_frozen_worker(soak_database: str, tmp_path: Path) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    ctx = await open_context(Settings(data_dir=data_dir, database_url=soak_database))
    credits = PRICE * TASKS  # far more than any one account spends
    clients = await make_clients(
        ctx, accounts=ACCOUNTS, keys_per_account=KEYS_PER_ACCOUNT, credits=credits
    )
    database = make_url(soak_database)
    relay = StallableRelay(database.host or "127.0.0.1", database.port or 5432).start()
    fleet = Fleet(
        data_dir,
        {"OPENDANCE_DATABASE_URL": soak_database, **FLEET_ENV},
        relayed_database_url=database.set(port=relay.port).render_as_string(hide_password=False),
    )
    queue = QueueView(ctx.db)
    chaos = ChaosRecord()
    experiments: list[asyncio.Task[None]] = []
    try:
        fleet.start(replicas=REPLICAS, workers=WORKERS)
        experiments = [
            asyncio.create_task(
                kill_workers(fleet, queue, chaos, kills=KILLS, total=TASKS, seed=SEED)
            ),
            asyncio.create_task(
                freeze_one_worker(fleet, queue, chaos, relay=relay, after=TASKS // 3)
            ),
        ]
        submitted = await submit_all(fleet.api_urls, clients, TASKS)
        submitted_seconds = time.monotonic() - started
        await queue.wait_terminal(TASKS)
        await asyncio.wait_for(asyncio.gather(*experiments), 300)
        drained_seconds = time.monotonic() - started

        found = await audit.every_task_succeeded(ctx.db, submitted)
        await audit.charged_once_and_balanced(ctx.db, clients, submitted, credits)
        leftovers = audit.stored_objects_match(data_dir / "objects", found, chaos)
        refused = audit.one_accepted_completion_per_task(fleet, found, chaos)
        _the_frozen_worker_lost_its_task(chaos, found, data_dir)
        samples = tmp_path / "samples"
        samples.mkdir()
        await audit.replicas_agree_and_videos_download(
            fleet, submitted, sample=14, scratch=samples, seed=SEED
        )
        for slot in fleet.workers:
            assert slot.stop() == 0, slot.output()[-3000:]
        assert not list((data_dir / "work").iterdir()), "scratch files left behind"
    finally:
        for experiment in experiments:
            experiment.cancel()
        fleet.stop()
        relay.close()
        await ctx.close()
    attempts = sum(t.attempts for t in found.values())
    print(
        f"\nsoak: {TASKS} tasks, fleet up and all submitted after {submitted_seconds:.1f} s, "
        f"all done after {drained_seconds:.1f} s ({TASKS / drained_seconds:.2f} tasks/s), total "
        f"{time.monotonic() - started:.1f} s; {len(chaos.kills)} kills "
        f"({len(chaos.interrupted_leases)} mid-task), {attempts - TASKS} extra attempts, "
        f"{refused} refused completions, leftovers {leftovers}"
    )


def _the_frozen_worker_lost_its_task(
    chaos: ChaosRecord, found: dict[str, TaskRecord], data_dir: Path
) -> None:
    """The frozen worker's late completion was refused: the task holds the winner's result
    only, and the loser's upload (made after it resumed) is gone again."""
    freeze = chaos.freeze
    assert freeze is not None
    lost = freeze.lost
    task = found[lost.task_id]
    assert task.lease_token > lost.token and task.lease_owner != lost.worker_id
    assert task.video_key == freeze.winner.video_key == f"videos/{task.id}-{task.lease_token}.mp4"
    for stale in ResultFiles.made_by(task.id, lost.token).keys:
        assert not (data_dir / "objects" / stale).exists(), stale
    log = freeze.log.read_text()
    assert f"task {task.id}: lease lost before completion; result discarded" in log
    assert f"task {task.id} succeeded" not in log
    # the resumed worker went back to work
    after = log.split("lease lost before completion", 1)[1]
    assert "claimed" in after, "the resumed worker took no further task"
    assert freeze.stopped_seconds > 3  # longer than its lease
