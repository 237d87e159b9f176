"""Task rows: creation, lookup, and the fenced state changes of the queue.

The tasks table is the queue. A worker claims the oldest queued task with a lease (owner,
expiry) and a fencing token that every claim bumps; heartbeats extend the lease; a completion
counts only if the worker still holds the token it claimed with. Every change of ``status`` goes
through ``_move`` (a claim through ``claim_next``), guarded by the transition table of
``opendance.domain.task_states``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, false, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from opendance.db.tables import tasks
from opendance.db.types import Now, db_now
from opendance.db.wakeups import notify_queued
from opendance.domain.capabilities import SERVES_EVERYTHING, EngineCapabilities
from opendance.domain.doors import Door
from opendance.domain.task_filter import TaskFilter
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import LIVE, TERMINAL, TaskState, sources_for
from opendance.domain.task_view import ClaimedTask, Lease, ResultFiles, TaskView


@dataclass(frozen=True)
class TaskRecord:
    id: str
    account_id: str
    api_key_id: str | None
    status: TaskState
    request: TaskRequest
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
    door: Door
    client_model: str | None
    remixed_from: str | None
    sprite_key: str | None
    last_frame_key: str | None
    deleted_at: datetime | None
    expired_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskRecord:
        return cls(**_typed(row._asdict()))

    @property
    def lease(self) -> Lease:
        assert self.lease_owner is not None, "only a leased task has a lease"
        return Lease(self.id, self.lease_token, self.lease_owner)

    def claimed(self) -> ClaimedTask:
        return ClaimedTask(
            lease=self.lease,
            account_id=self.account_id,
            request=self.request,
            attempts=self.attempts,
            input_image_key=self.input_image_key,
        )

    def view(self) -> TaskView:
        return TaskView(**{name: getattr(self, name) for name in TASK_VIEW_FIELDS})


TASK_VIEW_FIELDS = tuple(TaskView.__dataclass_fields__)
TASK_VIEW_COLUMNS = [tasks.c[name] for name in TASK_VIEW_FIELDS]


def view_from_row(values: dict[str, Any]) -> TaskView:
    """A ``TaskView`` from the ``TASK_VIEW_COLUMNS`` of a row, as the driver returned them."""
    return TaskView(**_typed(values))


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    values["status"] = TaskState(values["status"])
    values["request"] = TaskRequest.from_json(values["request"])
    values["door"] = Door(values["door"])
    return values


async def insert_task(
    conn: AsyncConnection,
    *,
    task_id: str,
    account_id: str,
    api_key_id: str | None,
    request: TaskRequest,
    price: int,
    input_image_key: str | None,
    door: Door = Door.SEEDANCE,
    client_model: str | None = None,
    remixed_from: str | None = None,
) -> None:
    """A new queued task (its charge is the caller's, in the same transaction)."""
    now = db_now(conn)
    await conn.execute(
        insert(tasks).values(
            id=task_id,
            account_id=account_id,
            api_key_id=api_key_id,
            request=request.to_json(),
            seed=request.seed,
            price=price,
            needs_audio=request.needs_audio,
            needs_image=request.needs_image,
            callback_url=request.callback_url,
            input_image_key=input_image_key,
            door=door.value,
            client_model=client_model,
            remixed_from=remixed_from,
            status=TaskState.QUEUED.value,
            created_at=now,
            updated_at=now,
            progress=0,
            attempts=0,
            lease_token=0,
        )
    )
    await notify_queued(conn)


async def get_task(conn: AsyncConnection, task_id: str) -> TaskRecord | None:
    row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
    return TaskRecord.from_row(row) if row else None


async def get_visible(conn: AsyncConnection, account_id: str, task_id: str) -> TaskRecord | None:
    """The task, if it is this account's and its owner has not deleted it."""
    task = await get_task(conn, task_id)
    if task is None or task.account_id != account_id or task.deleted_at is not None:
        return None
    return task


def _listed(account_id: str, which: TaskFilter) -> list[ColumnElement[bool]]:
    """The conditions of a list of an account's tasks: never a deleted one."""
    found = [tasks.c.account_id == account_id, tasks.c.deleted_at.is_(None)]
    if which.statuses is not None:
        found.append(tasks.c.status.in_(_values(which.statuses)))
    if which.task_ids is not None:
        found.append(tasks.c.id.in_(which.task_ids))
    if which.client_model is not None:
        model = tasks.c.client_model == which.client_model
        if which.client_model == which.unset_model:
            model = or_(model, tasks.c.client_model.is_(None))
        found.append(model)
    if which.expired is not None:
        expired = tasks.c.expired_at
        found.append(expired.is_not(None) if which.expired else expired.is_(None))
    return found


async def list_page(
    conn: AsyncConnection,
    account_id: str,
    which: TaskFilter,
    *,
    newest_first: bool,
    limit: int,
    after: TaskView | None = None,
    offset: int = 0,
) -> list[TaskView]:
    """Up to ``limit`` tasks in creation order (ties by id), strictly after the task ``after``
    (keyset paging, stable while new tasks arrive) or from ``offset`` (page numbers), along
    ``ix_tasks_account_id_created_at``."""
    conditions = _listed(account_id, which)
    if after is not None:
        position = tuple_(tasks.c.created_at, tasks.c.id)
        mark = tuple_(literal(after.created_at, tasks.c.created_at.type), literal(after.id))
        conditions.append(position < mark if newest_first else position > mark)
    order = (
        (tasks.c.created_at.desc(), tasks.c.id.desc())
        if newest_first
        else (tasks.c.created_at, tasks.c.id)
    )
    rows = await conn.execute(
        select(*TASK_VIEW_COLUMNS).where(*conditions).order_by(*order).limit(limit).offset(offset)
    )
    return [view_from_row(row._asdict()) for row in rows]


async def count(conn: AsyncConnection, account_id: str, which: TaskFilter) -> int:
    statement = select(func.count()).select_from(tasks).where(*_listed(account_id, which))
    return int((await conn.execute(statement)).scalar_one())


async def mark_deleted(conn: AsyncConnection, task_id: str) -> bool:
    """Hide a finished task from its owner for good (its ledger rows keep it in the table)."""
    now = db_now(conn)
    result = await conn.execute(
        update(tasks)
        .where(
            tasks.c.id == task_id,
            tasks.c.deleted_at.is_(None),
            tasks.c.status.in_(_values(TERMINAL)),
        )
        .values(deleted_at=now, updated_at=now, **_NO_FILES)
    )
    return result.rowcount == 1


async def expire_finished(
    conn: AsyncConnection, *, older_than: timedelta, limit: int = 200
) -> list[TaskRecord]:
    """Mark up to ``limit`` tasks that finished more than ``older_than`` ago as expired, their
    file keys cleared; the records as they were (the caller deletes those files)."""
    cutoff = db_now(conn) - older_than
    rows = await conn.execute(
        select(tasks)
        .where(
            tasks.c.finished_at < cutoff,
            tasks.c.expired_at.is_(None),
            tasks.c.status.in_(_values(TERMINAL)),
        )
        .limit(limit)
    )
    expired = [TaskRecord.from_row(row) for row in rows]
    if expired:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id.in_([task.id for task in expired]), tasks.c.expired_at.is_(None))
            .values(expired_at=db_now(conn), **_NO_FILES)
        )
    return expired


# the result files a task refers to; deleting or expiring a task clears them
_NO_FILES: dict[str, Any] = {
    "video_key": None,
    "poster_key": None,
    "sprite_key": None,
    "last_frame_key": None,
}


async def claim_next(
    conn: AsyncConnection,
    *,
    owner: str,
    lease_seconds: float,
    capabilities: EngineCapabilities = SERVES_EVERYTHING,
    engine: str | None = None,
    model: str | None = None,
    exclude: Collection[str] = (),
) -> TaskRecord | None:
    """Lease to ``owner`` the oldest queued task it can serve (a task that needs audio only to
    a worker with audio, one with an input image only to an image-to-video worker), and record
    the ``engine`` and ``model`` that run it. Tasks in ``exclude`` are passed over: a worker
    does not claim again a task one of its own slots still winds down. On PostgreSQL the
    inner SELECT skips rows other workers are claiming (FOR UPDATE SKIP LOCKED); SQLite
    serialises writers instead."""
    if conn.dialect.name == "sqlite":
        # Take the write lock (BEGIN IMMEDIATE comes with the first statement) before
        # ``exclude`` is read: a claim that waited for the lock must see the tasks its
        # worker's other slots took up meanwhile.
        await conn.execute(select(1))
    now = db_now(conn)
    oldest = (
        oldest_servable(capabilities, exclude).with_for_update(skip_locked=True).scalar_subquery()
    )
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


def oldest_servable(
    capabilities: EngineCapabilities, exclude: Collection[str] = ()
) -> Select[tuple[str]]:
    """The id of the oldest queued task a worker with ``capabilities`` can serve: a walk along
    the queued part of ``ix_tasks_queue``, in claim order, that stops at the first match."""
    conditions = [tasks.c.status == TaskState.QUEUED.value]
    if not capabilities.audio:
        conditions.append(tasks.c.needs_audio == false())
    if not capabilities.image_to_video:
        conditions.append(tasks.c.needs_image == false())
    if exclude:
        conditions.append(tasks.c.id.not_in(list(exclude)))
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
    conn: AsyncConnection, lease: Lease, files: ResultFiles, *, request: TaskRequest | None = None
) -> bool:
    """Mark SUCCESS if the lease is still held; False means another worker owns the task now.
    ``request``: the request as it was made, where the worker resolved part of it."""
    resolved = {} if request is None else {"request": request.to_json()}
    return await _move(
        conn,
        TaskState.SUCCEEDED,
        *_held(lease),
        **resolved,
        video_key=files.video_key,
        poster_key=files.poster_key,
        sprite_key=files.sprite_key,
        last_frame_key=files.last_frame_key,
        progress=100,
    )


async def fail(
    conn: AsyncConnection, task_id: str, message: str, *, lease: Lease | None = None
) -> bool:
    """Mark FAILED (fenced when a lease is given). The caller refunds in the same transaction
    when this returns True, so a task is refunded exactly once."""
    guards = _held(lease) if lease else [tasks.c.id == task_id]
    return await _move(conn, TaskState.FAILED, *guards, error_message=message)


async def cancel(conn: AsyncConnection, task_id: str, message: str) -> bool:
    """Mark CANCELLED if it has not ended; a running task's lease goes with it, so its worker's
    next heartbeat, and its completion, find it gone. The caller refunds in the same
    transaction when this returns True."""
    return await _move(
        conn,
        TaskState.CANCELLED,
        tasks.c.id == task_id,
        error_message=message,
        lease_expires_at=None,
    )


async def release(conn: AsyncConnection, lease: Lease) -> bool:
    """Hand a task back to the queue without counting the attempt (graceful shutdown)."""
    return await _requeue(conn, *_held(lease), attempts=tasks.c.attempts - 1)


async def expired_leases(conn: AsyncConnection, *, limit: int = 100) -> list[TaskRecord]:
    rows = await conn.execute(
        select(tasks)
        .where(tasks.c.status == TaskState.RUNNING.value, tasks.c.lease_expires_at < db_now(conn))
        .limit(limit)
    )
    return [TaskRecord.from_row(r) for r in rows]


async def requeue_expired(conn: AsyncConnection, task: TaskRecord) -> bool:
    """Put a task whose lease ran out back in the queue (only if nothing changed meanwhile)."""
    return await _requeue(conn, *_expired_guard(task, db_now(conn)))


async def _requeue(conn: AsyncConnection, *guards: ColumnElement[bool], **values: Any) -> bool:
    """Put a task back in the queue without its lease or progress, and wake a worker."""
    moved = await _move(
        conn,
        TaskState.QUEUED,
        *guards,
        lease_owner=None,
        lease_expires_at=None,
        progress=0,
        **values,
    )
    if moved:
        await notify_queued(conn)
    return moved


async def fail_expired(conn: AsyncConnection, task: TaskRecord, message: str) -> bool:
    return await _move(
        conn, TaskState.FAILED, *_expired_guard(task, db_now(conn)), error_message=message
    )


@dataclass(frozen=True)
class StoredObjects:
    """The object keys a task refers to, for the sweep of unreferenced objects."""

    live: bool
    lease_token: int
    video_key: str | None
    poster_key: str | None
    sprite_key: str | None
    last_frame_key: str | None
    input_image_key: str | None

    @property
    def result_keys(self) -> tuple[str | None, ...]:
        return (self.video_key, self.poster_key, self.sprite_key, self.last_frame_key)


async def stored_objects(
    conn: AsyncConnection, task_ids: Collection[str]
) -> dict[str, StoredObjects]:
    """Of each of these tasks that exists: the keys it refers to (one primary-key lookup)."""
    rows = await conn.execute(
        select(
            tasks.c.id,
            tasks.c.status,
            tasks.c.lease_token,
            tasks.c.video_key,
            tasks.c.poster_key,
            tasks.c.sprite_key,
            tasks.c.last_frame_key,
            tasks.c.input_image_key,
        ).where(tasks.c.id.in_(list(task_ids)))
    )
    return {
        row.id: StoredObjects(
            live=TaskState(row.status) in LIVE,
            lease_token=row.lease_token,
            video_key=row.video_key,
            poster_key=row.poster_key,
            sprite_key=row.sprite_key,
            last_frame_key=row.last_frame_key,
            input_image_key=row.input_image_key,
        )
        for row in rows
    }


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
