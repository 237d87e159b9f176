"""The task service: every change of a task's state, each in one transaction that writes the
task row, its ledger row and its webhook outbox row together. Doors (the API dialects) and
workers change tasks only through these functions.

    submit           -> queued                  charged
    claim            queued -> running          leased to a worker, fenced by a token
    report_progress  running                    lease renewed, progress recorded
    complete         running -> succeeded       fenced
    fail             running -> failed          fenced, refunded
    hand_back        running -> queued          graceful shutdown; the attempt does not count
    cancel           queued|running -> cancelled  refunded; a worker finds its lease gone
    delete           a finished task disappears for its owner; its files go
    reap_expired     running -> queued, or -> failed and refunded after too many attempts
    expire_retained  a task finished longer ago than the retention loses its files

A move happens only if the task is still where the caller saw it (``db.tasks`` guards every
update by the transition table and, for a worker, by its lease token), so of a cancel and a
completion racing each other exactly one wins, and a task is refunded at most once (the ledger's
unique (task, kind) backs that up).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import orjson

from opendance import errors
from opendance.db import accounts as account_rows
from opendance.db import deliveries as delivery_rows
from opendance.db import idempotency as idempotency_rows
from opendance.db import tasks as task_rows
from opendance.db import workers as worker_rows
from opendance.db.accounts import NewLedgerEntry
from opendance.db.database import Connection
from opendance.db.tasks import TaskRecord
from opendance.db.wakeups import QueueListener, queue_listener
from opendance.domain import ids
from opendance.domain.accounts import KeyOwner
from opendance.domain.capabilities import EngineCapabilities, FleetOffer
from opendance.domain.doors import Door
from opendance.domain.task_filter import ALL_TASKS, TaskFilter
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import ClaimedTask, Lease, ResultFiles, TaskView
from opendance.net.data_urls import DataImage
from opendance.services.context import AppContext
from opendance.services.task_bodies import terminal_body

log = logging.getLogger("opendance.tasks")

CANCELLED_MESSAGE = "the task was cancelled by its owner; credits refunded"
# How long an Idempotency-Key stands for the request it first came with (as Stripe's do).
IDEMPOTENCY_WINDOW: Final = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's ``Idempotency-Key`` and the fingerprint of the request it came with."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, *request_parts: bytes) -> IdempotencyKey:
        """The key, fingerprinted by the route and the canonical body the door parsed."""
        digest = hashlib.sha256()
        for part in request_parts:
            digest.update(len(part).to_bytes(8, "big") + part)
        return cls(key, digest.hexdigest())


@dataclass(frozen=True)
class NewTask:
    """A request a door has validated: what to make, and the bytes of an inline first frame
    (``request.image_url`` is then its stand-in)."""

    request: TaskRequest
    inline_image: DataImage | None = None
    door: Door = Door.SEEDANCE
    client_model: str | None = None
    remixed_from: str | None = None
    idempotency: IdempotencyKey | None = None


class _KeyTaken(Exception):
    """Another request with this Idempotency-Key committed first: roll this one back."""


class LeaseStatus(enum.Enum):
    HELD = "held"
    LOST = "lost"  # the lease ran out and the task went to another worker, or ended
    CANCELLED = "cancelled"  # its owner cancelled the task


# --- doors -------------------------------------------------------------------------------


async def submit(ctx: AppContext, owner: KeyOwner, new: NewTask) -> str:
    """Charge the price and queue the task, in one transaction; its id. Raises an
    ``ApiError`` (unsupported option, too few credits); on error nothing is changed.

    With an Idempotency-Key that this account sent in the last 24 hours: the id of the task
    it created then (nothing is charged again) if the request is the same, else
    ``IdempotencyConflict``. Of concurrent requests with one key, exactly one creates a task."""
    if new.idempotency is not None:
        earlier = await _earlier_task(ctx, owner, new.idempotency)
        if earlier is not None:
            return earlier
    try:
        return await _create(ctx, owner, new)
    except _KeyTaken:
        assert new.idempotency is not None
        earlier = await _earlier_task(ctx, owner, new.idempotency)
        if earlier is None:  # taken and gone again within a moment: only if it just expired
            return await _create(ctx, owner, new)
        return earlier


async def replay(ctx: AppContext, owner: KeyOwner, key: IdempotencyKey | None) -> str | None:
    """The task an earlier request with this Idempotency-Key created (``IdempotencyConflict``
    if that request was another), or None. A door asks first, before any work of its own: a
    retry must get the original answer even when the request would fail now (the balance it
    spent, a fleet that changed, a deleted source)."""
    return None if key is None else await _earlier_task(ctx, owner, key)


async def as_created(ctx: AppContext, account_id: str, task_id: str) -> TaskView:
    """This account's task as its create was answered, also once it has been deleted (what a
    create repeated with the same Idempotency-Key answers again)."""
    async with ctx.db.read() as conn:
        task = await task_rows.get_task(conn, task_id)
    if task is None or task.account_id != account_id:
        raise errors.TaskNotFound(f"task {task_id!r} not found")
    return task.view().as_created()


async def _earlier_task(ctx: AppContext, owner: KeyOwner, key: IdempotencyKey) -> str | None:
    async with ctx.db.read() as conn:
        found = await idempotency_rows.find(
            conn, owner.account_id, key.key, max_age=IDEMPOTENCY_WINDOW
        )
    if found is None:
        return None
    if found.fingerprint != key.fingerprint:
        raise errors.IdempotencyConflict()
    return found.task_id


async def _create(ctx: AppContext, owner: KeyOwner, new: NewTask) -> str:
    request = new.request
    check_capabilities(await ctx.fleet.current(), request)
    price = request.price
    task_id = ids.new_task_id()
    input_key = None
    if new.inline_image is not None:
        # Checked before the upload so that a key without credits cannot make the server store
        # megabytes; the debit below stays the authority (the balance may change meanwhile).
        await require_balance(ctx, owner, price)
        input_key = f"inputs/{task_id}"
        await ctx.store.put_bytes(input_key, new.inline_image.data, new.inline_image.mime)
    try:
        async with ctx.db.write() as conn:
            await task_rows.insert_task(
                conn,
                task_id=task_id,
                account_id=owner.account_id,
                api_key_id=owner.key_id,
                request=request,
                price=price,
                input_image_key=input_key,
                door=new.door,
                client_model=new.client_model,
                remixed_from=new.remixed_from,
            )
            # before the charge: the loser of a race for the key is refused for that, not
            # for a balance the winner has just spent
            if new.idempotency is not None and not await idempotency_rows.record(
                conn,
                account_id=owner.account_id,
                key=new.idempotency.key,
                fingerprint=new.idempotency.fingerprint,
                task_id=task_id,
                max_age=IDEMPOTENCY_WINDOW,
            ):
                raise _KeyTaken()
            if not await account_rows.try_debit(conn, owner.account_id, price):
                balance = await account_rows.balance_of(conn, owner.account_id)
                raise errors.InsufficientCredits(price=price, balance=balance)
            await account_rows.record_charge(
                conn, account_id=owner.account_id, task_id=task_id, amount=price
            )
    except BaseException:
        if input_key:
            await forget_objects(ctx, input_key)
        raise
    return task_id


async def require_balance(ctx: AppContext, owner: KeyOwner, price: int) -> None:
    """Raise ``InsufficientCredits`` unless the balance covers ``price`` now."""
    async with ctx.db.read() as conn:
        balance = await account_rows.balance_of(conn, owner.account_id)
    if balance < price:
        raise errors.InsufficientCredits(price=price, balance=balance)


def check_capabilities(fleet: FleetOffer, request: TaskRequest) -> None:
    if request.needs_audio and not fleet.audio:
        raise errors.UnsupportedOption(
            "generate_audio is not available: the serving engine makes video without sound"
        )
    if request.needs_image and not fleet.image_to_video:
        raise errors.UnsupportedOption(
            "image_urls is not available: the serving engine makes text-to-video only"
        )
    if not fleet.serves(audio=request.needs_audio, image=request.needs_image):
        raise errors.UnsupportedOption(
            "generate_audio with image_urls is not available: no worker makes sound for "
            "image-to-video; send one of them"
        )


async def cancel(ctx: AppContext, account_id: str, task_id: str) -> TaskView:
    """Cancel a queued or running task of this account and refund it; the task as it is now.
    A running task's worker stops at its next heartbeat. Raises ``TaskNotFound`` (unknown or
    another account's) or ``TaskNotCancellable`` (it has ended, perhaps a moment ago)."""
    async with ctx.db.write() as conn:
        task = await task_rows.get_visible(conn, account_id, task_id)
        if task is None:
            raise errors.TaskNotFound(f"task {task_id!r} not found")
        if task.status.terminal or not await task_rows.cancel(conn, task_id, CANCELLED_MESSAGE):
            raise errors.TaskNotCancellable(
                f"task {task_id!r} has already finished; only a queued or running task can "
                "be cancelled"
            )
        ended = await _ended(ctx, conn, task_id)
        await _refund(conn, ended)
    log.info("task %s cancelled", task_id, extra={"task_id": task_id})
    await _drop_input(ctx, task.input_image_key)
    return ended.view()


async def delete(ctx: AppContext, account_id: str, task_id: str) -> None:
    """Delete a finished task of this account: no dialect shows it again, and its files go
    (its ledger rows stay, and so does its row). Raises ``TaskNotFound`` or, for a task that
    has not ended, ``TaskNotFinished``."""
    async with ctx.db.write() as conn:
        task = await task_rows.get_visible(conn, account_id, task_id)
        if task is None:
            raise errors.TaskNotFound(f"task {task_id!r} not found")
        if not task.status.terminal or not await task_rows.mark_deleted(conn, task_id):
            raise errors.TaskNotFinished(
                f"task {task_id!r} has not finished; cancel it first, or wait for it to end"
            )
    log.info("task %s deleted", task_id, extra={"task_id": task_id})
    await forget_objects(ctx, *_files_of(task))


async def get(ctx: AppContext, account_id: str, task_id: str) -> TaskView:
    """This account's task, as it is now; ``TaskNotFound`` if unknown, another's or deleted."""
    async with ctx.db.read() as conn:
        task = await task_rows.get_visible(conn, account_id, task_id)
    if task is None:
        raise errors.TaskNotFound(f"task {task_id!r} not found")
    return task.view()


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskView]
    has_more: bool


async def list_tasks(
    ctx: AppContext,
    account_id: str,
    which: TaskFilter = ALL_TASKS,
    *,
    limit: int,
    newest_first: bool = True,
    after: str | None = None,
    offset: int = 0,
) -> TaskPage:
    """A page of this account's tasks, newest first unless asked otherwise: those after the
    task ``after`` (a cursor that stays right while tasks are added), or from ``offset``."""
    async with ctx.db.read() as conn:
        mark = None
        if after is not None:
            # a task deleted since it was listed still marks its place (a client may delete
            # what it pages through)
            found = await task_rows.get_task(conn, after)
            if found is None or found.account_id != account_id:
                raise errors.InvalidRequest(f"after: no task {after!r} to list from", param="after")
            mark = found.view()
        found_tasks = await task_rows.list_page(
            conn,
            account_id,
            which,
            newest_first=newest_first,
            limit=limit + 1,
            after=mark,
            offset=offset,
        )
    return TaskPage(found_tasks[:limit], has_more=len(found_tasks) > limit)


async def count_tasks(ctx: AppContext, account_id: str, which: TaskFilter = ALL_TASKS) -> int:
    async with ctx.db.read() as conn:
        return await task_rows.count(conn, account_id, which)


# --- workers -----------------------------------------------------------------------------


async def claim(
    ctx: AppContext,
    *,
    worker_id: str,
    capabilities: EngineCapabilities,
    engine: str | None,
    model: str | None,
    exclude: Collection[str] = (),
) -> ClaimedTask | None:
    """Lease the oldest queued task this worker can serve (none of ``exclude``), if any."""
    async with ctx.db.write() as conn:
        record = await task_rows.claim_next(
            conn,
            owner=worker_id,
            lease_seconds=ctx.settings.lease_seconds,
            capabilities=capabilities,
            engine=engine,
            model=model,
            exclude=exclude,
        )
    return record.claimed() if record is not None else None


async def report_progress(ctx: AppContext, lease: Lease, progress: int | None) -> LeaseStatus:
    """Renew the lease and record progress; whether the worker may go on."""
    async with ctx.db.write() as conn:
        if await task_rows.heartbeat(
            conn, lease, lease_seconds=ctx.settings.lease_seconds, progress=progress
        ):
            return LeaseStatus.HELD
        task = await task_rows.get_task(conn, lease.task_id)
    if task is not None and task.status is TaskState.CANCELLED:
        return LeaseStatus.CANCELLED
    return LeaseStatus.LOST


async def complete(
    ctx: AppContext, task: ClaimedTask, files: ResultFiles, *, aspect_ratio: str | None = None
) -> bool:
    """SUCCEEDED, if the lease still holds; False: the result is not the task's. An adaptive
    aspect ratio the worker resolved (``aspect_ratio``) is recorded in the request: what was
    made is what every door shows from then on."""
    made = task.request
    if aspect_ratio is not None and aspect_ratio != made.aspect_ratio:
        made = dataclasses.replace(made, aspect_ratio=aspect_ratio)
    async with ctx.db.write() as conn:
        done = await task_rows.complete(
            conn, task.lease, files, request=made if made is not task.request else None
        )
        if done:
            await _ended(ctx, conn, task.id)
    if done:
        await _drop_input(ctx, task.input_image_key)
    return done


async def fail(ctx: AppContext, task: ClaimedTask, message: str) -> bool:
    """FAILED and refunded, if the lease still holds; False if it was no longer ours to fail."""
    async with ctx.db.write() as conn:
        failed = await task_rows.fail(conn, task.id, message, lease=task.lease)
        if failed:
            await _refund(conn, await _ended(ctx, conn, task.id))
    if failed:
        await _drop_input(ctx, task.input_image_key)
    return failed


async def hand_back(ctx: AppContext, lease: Lease) -> bool:
    """Back to the queue for another worker, the attempt not counted (graceful shutdown)."""
    async with ctx.db.write() as conn:
        return await task_rows.release(conn, lease)


async def reap_expired(ctx: AppContext) -> int:
    """Requeue tasks whose worker vanished; fail (and refund) those that used up their attempts.
    Safe with many reapers: every move is conditional on the lease still being the expired one.
    Returns how many tasks moved."""
    async with ctx.db.write() as conn:
        # a dead worker's row lingers only long enough to be seen in diagnostics
        await worker_rows.forget_silent_workers(
            conn, silent_for=10 * ctx.settings.worker_seen_seconds
        )
        expired = await task_rows.expired_leases(conn)
    moved = 0
    for task in expired:
        give_up = task.attempts >= ctx.settings.max_attempts
        async with ctx.db.write() as conn:
            if give_up:
                message = (
                    f"the task was interrupted {task.attempts} times (worker crash or "
                    "timeout); credits refunded"
                )
                ok = await task_rows.fail_expired(conn, task, message)
                if ok:
                    await _refund(conn, await _ended(ctx, conn, task.id))
            else:
                ok = await task_rows.requeue_expired(conn, task)
        if not ok:
            continue
        moved += 1
        if give_up:
            await _drop_input(ctx, task.input_image_key)
        outcome = "failed" if give_up else "requeued"
        log.warning(
            "task %s: lease of %s expired; %s",
            task.id,
            task.lease_owner,
            outcome,
            extra={"task_id": task.id, "lease_owner": task.lease_owner, "outcome": outcome},
        )
    return moved


async def expire_retained(ctx: AppContext) -> int:
    """With a retention set: delete the files of tasks that finished longer ago than it (they
    stay readable, marked expired); also forget Idempotency-Keys past their window. How many
    tasks expired."""
    async with ctx.db.write() as conn:
        await idempotency_rows.forget_expired(conn, max_age=IDEMPOTENCY_WINDOW)
    if ctx.settings.retention_days is None:
        return 0
    async with ctx.db.write() as conn:
        expired = await task_rows.expire_finished(
            conn, older_than=timedelta(days=ctx.settings.retention_days)
        )
    for task in expired:
        await forget_objects(ctx, *_files_of(task))
    if expired:
        log.info("retention: the files of %d finished tasks deleted", len(expired))
    return len(expired)


def queued_listener(ctx: AppContext, on_queued: Callable[[], None]) -> QueueListener:
    """Calls ``on_queued`` when a task is queued anywhere (PostgreSQL's NOTIFY, SQLite's wake
    sockets; with ``OPENDANCE_QUEUE_NOTIFY=false``, or an in-memory SQLite, workers only poll)."""
    return queue_listener(ctx.db, on_queued, enabled=ctx.settings.queue_notify)


async def forget_objects(ctx: AppContext, *keys: str) -> None:
    """Delete objects nobody will read again; a store that fails here only leaves litter (the
    sweep of unreferenced objects finds it)."""
    for key in keys:
        try:
            await ctx.store.delete(key)
        except Exception:
            log.warning("could not delete %s from the object store", key, exc_info=True)


# --- within a transaction ----------------------------------------------------------------


async def _refund(conn: Connection, task: TaskRecord) -> None:
    refund = NewLedgerEntry(task.account_id, "refund", task.price, task_id=task.id)
    await account_rows.add_ledger_entry(conn, refund)


async def _ended(ctx: AppContext, conn: Connection, task_id: str) -> TaskRecord:
    """In the transaction that made the task terminal: if it has a callback_url, the outbox
    row of the task as its door shows it now. A crash after commit loses nothing."""
    task = await task_rows.get_task(conn, task_id)
    assert task is not None and task.status.terminal, "called after a terminal move"
    if task.callback_url:
        body = terminal_body(ctx, task.view())
        await delivery_rows.enqueue(
            conn,
            delivery_id="msg_" + secrets.token_urlsafe(16),
            task_id=task.id,
            account_id=task.account_id,
            url=task.callback_url,
            payload=orjson.dumps(body).decode(),
        )
    return task


def _files_of(task: TaskRecord) -> list[str]:
    keys = (task.video_key, task.poster_key, task.sprite_key, task.last_frame_key)
    return [key for key in keys if key]


async def _drop_input(ctx: AppContext, input_image_key: str | None) -> None:
    if input_image_key:
        await forget_objects(ctx, input_image_key)
