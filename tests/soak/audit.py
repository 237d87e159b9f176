"""After the soak: what must hold, checked in the database, the object store, the workers' logs
and through both API replicas."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import av
import httpx
from sqlalchemy import select

from opendance.db import accounts as account_rows
from opendance.db.database import Database
from opendance.db.tables import ledger, tasks
from opendance.db.tasks import TaskRecord
from opendance.domain.presets import frame_size
from opendance.domain.task_states import TaskState
from tests.soak.chaos import ChaosRecord
from tests.soak.fleet import Fleet
from tests.soak.load import PRICE, Client, Submitted

OBJECT_NAME = re.compile(r"^(?P<task>task_[A-Za-z0-9_\-]+)-(?P<token>\d+)\.(?:mp4|jpg|png)$")
# a worker's files: folder and suffix
RESULT_FILES = (
    ("videos", ".mp4"),
    ("posters", ".jpg"),
    ("sprites", ".jpg"),
    ("last_frames", ".png"),
)


async def every_task_succeeded(db: Database, submitted: list[Submitted]) -> dict[str, TaskRecord]:
    """None lost, none failed, none invented; each one's result is that of its last lease."""
    async with db.read() as conn:
        found = {r.id: TaskRecord.from_row(r) for r in await conn.execute(select(tasks))}
    ids = [s.task_id for s in submitted]
    assert len(set(ids)) == len(ids), "a task id was handed out twice"
    assert set(found) == set(ids), (
        f"{len(set(ids) - set(found))} accepted tasks missing, "
        f"{len(set(found) - set(ids))} unknown tasks present"
    )
    unfinished = [t for t in found.values() if t.status is not TaskState.SUCCEEDED]
    assert not unfinished, [(t.id, t.status, t.attempts, t.error_message) for t in unfinished[:5]]
    for task in found.values():
        assert task.video_key == f"videos/{task.id}-{task.lease_token}.mp4", task
        assert task.poster_key == f"posters/{task.id}-{task.lease_token}.jpg", task
        assert task.sprite_key == f"sprites/{task.id}-{task.lease_token}.jpg", task
        assert task.last_frame_key == f"last_frames/{task.id}-{task.lease_token}.png", task
        assert task.progress == 100
    return found


async def charged_once_and_balanced(
    db: Database, clients: list[Client], submitted: list[Submitted], credits: int
) -> None:
    """One charge and no refund per task; every balance is its ledger's sum and what the
    account's tasks cost."""
    async with db.read() as conn:
        rows = (await conn.execute(select(ledger.c.task_id, ledger.c.kind, ledger.c.amount))).all()
        accounts = {a.name: a for a in await account_rows.list_accounts(conn)}
        sums = {name: await account_rows.ledger_sum(conn, a.id) for name, a in accounts.items()}
    per_task: dict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
    for task_id, kind, amount in rows:
        if task_id is not None:
            per_task[task_id][(kind, amount)] += 1
    wrong = {t: c for t, c in per_task.items() if c != Counter({("charge", -PRICE): 1})}
    assert not wrong, list(wrong.items())[:5]
    assert set(per_task) == {s.task_id for s in submitted}
    spent = Counter(s.client.account for s in submitted)
    for name in {client.account for client in clients}:
        assert accounts[name].balance == sums[name] == credits - PRICE * spent[name], name


def stored_objects_match(
    objects_dir: Path, found: dict[str, TaskRecord], chaos: ChaosRecord
) -> dict[str, int]:
    """Exactly one video, poster, sprite sheet and last frame per task: those of its winning
    lease. Anything else may
    only be the upload of a worker killed between storing its result and completing (the key
    carries the fencing token, so such a leftover never hides the winner's; the design accepts
    it). Returns how many of each kind of leftover there were."""
    leftovers = Counter[str]()
    for folder, suffix in RESULT_FILES:
        names = {p.name for p in (objects_dir / folder).iterdir()}
        winners = {f"{t.id}-{t.lease_token}{suffix}" for t in found.values()}
        assert not winners - names, f"{folder} missing: {sorted(winners - names)[:5]}"
        for name in sorted(names - winners):
            if name.startswith("."):  # a temporary file of an upload cut short by a kill
                leftovers["partial"] += 1
                continue
            match = OBJECT_NAME.match(name)
            assert match, f"unexpected object {folder}/{name}"
            lease = (match["task"], int(match["token"]))
            assert lease in chaos.interrupted_leases, (
                f"{folder}/{name} is the result of a lease that was not killed: a discarded "
                "result must be deleted"
            )
            leftovers[folder] += 1
    # a worker uploads a task's files side by side: a kill may cut off one of each
    assert leftovers["partial"] <= len(RESULT_FILES) * len(chaos.kills)
    return dict(leftovers)


def one_accepted_completion_per_task(
    fleet: Fleet, found: dict[str, TaskRecord], chaos: ChaosRecord
) -> int:
    """Every process logs ``task X succeeded`` after its completion commits: no task may have
    two. A kill can fall between the commit and the line, so a few may have none. Returns
    how many completions the fencing check refused."""
    said = Counter[str]()
    refused = 0
    for slot in fleet.workers:
        text = slot.output()
        said.update(re.findall(r"task (task_\S+) succeeded", text))
        refused += text.count("lease lost before completion")
    twice = [task_id for task_id, n in said.items() if n > 1]
    assert not twice, f"completed twice: {twice[:5]}"
    assert set(said) <= set(found)
    assert len(found) - len(said) <= len(chaos.kills), "success lines missing beyond the kills"
    return refused


async def replicas_agree_and_videos_download(
    fleet: Fleet, submitted: list[Submitted], *, sample: int, scratch: Path, seed: int
) -> None:
    """Both replicas answer every status poll with the same body; every video URL answers; a
    sample of the videos is decoded and has the geometry the request asked for."""
    by_key: dict[str, list[Submitted]] = defaultdict(list)
    for one in submitted:
        by_key[one.client.key].append(one)
    bodies: dict[str, dict[str, Any]] = {}

    async def statuses(key: str, mine: list[Submitted]) -> None:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            for one in mine:
                answers = []
                for replica in fleet.api_urls:
                    response = await c.get(f"{replica}/v1/status", params={"task_id": one.task_id})
                    assert response.status_code == 200, response.text
                    answers.append(response.json())
                assert all(answer == answers[0] for answer in answers), answers
                data = answers[0]["data"]
                assert data["status"] == "SUCCESS" and data["consumed_credits"] == PRICE, data
                assert data["request"]["aspect_ratio"] == one.body["aspect_ratio"]
                bodies[one.task_id] = data

    await asyncio.gather(*(statuses(key, mine) for key, mine in by_key.items()))
    async with httpx.AsyncClient(timeout=60) as http:
        for one in submitted:
            response = await http.head(bodies[one.task_id]["response"][0])
            assert response.status_code == 200, (one.task_id, response.status_code)
            assert response.headers["content-type"] == "video/mp4"
            assert int(response.headers["content-length"]) > 1000
        for one in random.Random(seed).sample(submitted, min(sample, len(submitted))):
            path = scratch / f"{one.task_id}.mp4"
            path.write_bytes((await http.get(bodies[one.task_id]["response"][0])).content)
            _looks_as_asked(path, one.body)


def _looks_as_asked(path: Path, body: dict[str, Any]) -> None:
    width, height = frame_size(body["aspect_ratio"], body["resolution"])
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
        assert stream.average_rate == 24
        assert frames == 24 * int(body["duration"]), frames
        assert container.duration is not None
        assert abs(container.duration / av.time_base - int(body["duration"])) < 0.05
        assert not container.streams.audio
