"""Task rows: creation, lookup, and the fenced state changes of the queue.

The tasks table is the queue. A worker claims the oldest queued task with a lease (owner,
expiry) and a fencing token that every claim bumps; heartbeats extend the lease; a completion
counts only if the worker still holds the token it claimed with. Every change of ``status`` goes
through ``_move`` (a claim through ``claim_next``), guarded by the transition table of
``opendance.domain.task_states``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, false, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from opendance.db.tables import tasks
from opendance.db.types import Now, db_now
from opendance.db.wakeups import notify_queued
from opendance.domain.task_states import TaskState, sources_for
from opendance.engines.base import EngineCapabilities


@dataclass(frozen=True)
class TaskRecord:
    id: str
    account_id: str
    api_key_id: str | None
    status: TaskState
    request: dict[str, Any]
    seed: int
    price: int
    needs_audio: bool
    needs_image: bool
    engine: str | None
    model: str | None
    callback_url: str | None
    input_image_key: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: int
    attempts: int
    lease_owner: str | None
    lease_token: int
    lease_expires_at: datetime | None
    video_key: str | None
    poster_key: str | None
    error_message: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskRecord:
        values = row._asdict()
        values["status"] = TaskState(values["status"])
        return cls(**values)


@dataclass(slots=True)
class TaskView:
    """What a client may see of a task: the columns the status body is made of."""

    id: str
    status: TaskState
    request: dict[str, Any]
    price: int
    created_at: datetime
    updated_at: datetime
    progress: int
    video_key: str | None
    poster_key: str | None
    error_message: str | None


TASK_VIEW_COLUMNS = [tasks.c[name] for name in TaskView.__dataclass_fields__]


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a task."""

    task_id: str
    token: int
    owner: str


async def insert_task(conn: AsyncConnection, **values: Any) -> None:
    now = db_now(conn)
    await conn.execute(
        insert(tasks).values(
            status=TaskState.QUEUED.value,
            created_at=now,
            updated_at=now,
            progress=0,
            attempts=0,
            lease_token=0,
            **values,
        )
    )
    await notify_queued(conn)


async def get_task(conn: AsyncConnection, task_id: str) -> TaskRecord | None:
    row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
    return TaskRecord.from_row(row) if row else None


SERVES_EVERYTHING = EngineCapabilities(audio=True, image_to_video=True)


async def claim_next(
    conn: AsyncConnection,
    *,
    owner: str,
    lease_seconds: float,
    capabilities: EngineCapabilities = SERVES_EVERYTHING,
    engine: str | None = None,
    model: str | None = None,
) -> TaskRecord | None:
    """Lease to ``owner`` the oldest queued task it can serve (a task that needs audio only to
    a worker with audio, one with an input image only to an image-to-video worker), and record
    the ``engine`` and ``model`` that run it. On PostgreSQL the inner SELECT skips rows other
    workers are claiming (FOR UPDATE SKIP LOCKED); SQLite serialises writers instead."""
    now = db_now(conn)
    oldest = oldest_servable(capabilities).with_for_update(skip_locked=True).scalar_subquery()
    row = (
        await conn.execute(
            update(tasks)
            .where(
                tasks.c.id == oldest, tasks.c.status.in_(_values(sources_for(TaskState.RUNNING)))
            )
            .values(
                status=TaskState.RUNNING.value,
                lease_owner=owner,
                engine=engine,
                model=model,
                lease_token=tasks.c.lease_token + 1,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=tasks.c.attempts + 1,
                started_at=now,
                updated_at=now,
            )
            .returning(*tasks.c)
        )
    ).first()
    return TaskRecord.from_row(row) if row else None


def oldest_servable(capabilities: EngineCapabilities) -> Select[tuple[str]]:
    """The id of the oldest queued task a worker with ``capabilities`` can serve: a walk along
    the queued part of ``ix_tasks_queue``, in claim order, that stops at the first match."""
    conditions = [tasks.c.status == TaskState.QUEUED.value]
    if not capabilities.audio:
        conditions.append(tasks.c.needs_audio == false())
    if not capabilities.image_to_video:
        conditions.append(tasks.c.needs_image == false())
    return select(tasks.c.id).where(*conditions).order_by(tasks.c.created_at, tasks.c.id).limit(1)


async def heartbeat(
    conn: AsyncConnection, lease: Lease, *, lease_seconds: float, progress: int | None
) -> bool:
    """Extend the lease (and record progress). False: the lease is lost, stop working."""
    now = db_now(conn)
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "updated_at": now,
    }
    if progress is not None:
        values["progress"] = progress
    result = await conn.execute(update(tasks).where(*_held(lease)).values(**values))
    return result.rowcount == 1


async def complete(
    conn: AsyncConnection, lease: Lease, *, video_key: str, poster_key: str | None
) -> bool:
    """Mark SUCCESS if the lease is still held; False means another worker owns the task now."""
    return await _move(
        conn,
        TaskState.SUCCEEDED,
        *_held(lease),
        video_key=video_key,
        poster_key=poster_key,
        progress=100,
    )


async def fail(
    conn: AsyncConnection, task_id: str, message: str, *, lease: Lease | None = None
) -> bool:
    """Mark FAILED (fenced when a lease is given). The caller refunds in the same transaction
    when this returns True, so a task is refunded exactly once."""
    guards = _held(lease) if lease else [tasks.c.id == task_id]
    return await _move(conn, TaskState.FAILED, *guards, error_message=message)


async def release(conn: AsyncConnection, lease: Lease) -> bool:
    """Hand a task back to the queue without counting the attempt (graceful shutdown)."""
    moved = await _move(
        conn,
        TaskState.QUEUED,
        *_held(lease),
        lease_owner=None,
        lease_expires_at=None,
        attempts=tasks.c.attempts - 1,
        progress=0,
    )
    if moved:
        await notify_queued(conn)
    return moved


async def expired_leases(conn: AsyncConnection, *, limit: int = 100) -> list[TaskRecord]:
    rows = await conn.execute(
        select(tasks)
        .where(tasks.c.status == TaskState.RUNNING.value, tasks.c.lease_expires_at < db_now(conn))
        .limit(limit)
    )
    return [TaskRecord.from_row(r) for r in rows]


async def requeue_expired(conn: AsyncConnection, task: TaskRecord) -> bool:
    """Put a task whose lease ran out back in the queue (only if nothing changed meanwhile)."""
    moved = await _move(
        conn,
        TaskState.QUEUED,
        *_expired_guard(task, db_now(conn)),
        lease_owner=None,
        lease_expires_at=None,
        progress=0,
    )
    if moved:
        await notify_queued(conn)
    return moved


async def fail_expired(conn: AsyncConnection, task: TaskRecord, message: str) -> bool:
    return await _move(
        conn, TaskState.FAILED, *_expired_guard(task, db_now(conn)), error_message=message
    )


async def queue_depth(conn: AsyncConnection) -> int:
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.status == TaskState.QUEUED.value)
            )
        ).scalar_one()
    )


def _held(lease: Lease) -> list[ColumnElement[bool]]:
    return [
        tasks.c.id == lease.task_id,
        tasks.c.status == TaskState.RUNNING.value,
        tasks.c.lease_token == lease.token,
    ]


def _expired_guard(task: TaskRecord, now: Now) -> list[ColumnElement[bool]]:
    return [
        tasks.c.id == task.id,
        tasks.c.lease_token == task.lease_token,
        tasks.c.lease_expires_at < now,
    ]


async def _move(
    conn: AsyncConnection, target: TaskState, *guards: ColumnElement[bool], **values: Any
) -> bool:
    """The one place a task's status changes: only from the states the table allows."""
    now = db_now(conn)
    if target.terminal:
        values["finished_at"] = now
    result = await conn.execute(
        update(tasks)
        .where(*guards, tasks.c.status.in_(_values(sources_for(target))))
        .values(status=target.value, updated_at=now, **values)
    )
    return result.rowcount == 1


def _values(states: frozenset[TaskState]) -> list[str]:
    return sorted(state.value for state in states)
