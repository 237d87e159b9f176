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
    reap_expired     running -> queued, or -> failed and refunded after too many attempts

A move happens only if the task is still where the caller saw it (``db.tasks`` guards every
update by the transition table and, for a worker, by its lease token), so of a cancel and a
completion racing each other exactly one wins, and a task is refunded at most once (the ledger's
unique (task, kind) backs that up).
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

import orjson

from opendance import errors
from opendance.db import accounts as account_rows
from opendance.db import deliveries as delivery_rows
from opendance.db import tasks as task_rows
from opendance.db import workers as worker_rows
from opendance.db.database import Connection
from opendance.db.tasks import TaskRecord
from opendance.db.wakeups import TaskListener
from opendance.domain import ids, pricing
from opendance.domain.accounts import KeyOwner
from opendance.domain.capabilities import EngineCapabilities, FleetOffer
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import ClaimedTask, Lease, TaskView
from opendance.net.data_urls import DataImage
from opendance.services.context import AppContext
from opendance.services.status import status_body

log = logging.getLogger("opendance.tasks")

CANCELLED_MESSAGE = "the task was cancelled by its owner; credits refunded"


@dataclass(frozen=True)
class NewTask:
    """A request a door has validated: what to make, and the bytes of an inline first frame
    (``request.image_url`` is then its stand-in)."""

    request: TaskRequest
    inline_image: DataImage | None = None


class LeaseStatus(enum.Enum):
    HELD = "held"
    LOST = "lost"  # the lease ran out and the task went to another worker, or ended
    CANCELLED = "cancelled"  # its owner cancelled the task


# --- doors -------------------------------------------------------------------------------


async def submit(ctx: AppContext, owner: KeyOwner, new: NewTask) -> str:
    """Charge the price and queue the task, in one transaction; its id. Raises an
    ``ApiError`` (unsupported option, too few credits); on error nothing is changed."""
    request = new.request
    check_capabilities(await ctx.fleet.current(), request)
    price = pricing.price(request.resolution, request.duration, request.generate_audio)
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
            if not await account_rows.try_debit(conn, owner.account_id, price):
                balance = await account_rows.balance_of(conn, owner.account_id)
                raise errors.InsufficientCredits(price=price, balance=balance)
            await task_rows.insert_task(
                conn,
                task_id=task_id,
                account_id=owner.account_id,
                api_key_id=owner.key_id,
                request=request,
                price=price,
                input_image_key=input_key,
            )
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
        task = await task_rows.get_task(conn, task_id)
        if task is None or task.account_id != account_id:
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
    ctx: AppContext, task: ClaimedTask, *, video_key: str, poster_key: str | None
) -> bool:
    """SUCCEEDED, if the lease still holds; False: the result is not the task's."""
    async with ctx.db.write() as conn:
        done = await task_rows.complete(
            conn, task.lease, video_key=video_key, poster_key=poster_key
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


def queued_listener(ctx: AppContext, on_queued: Callable[[], None]) -> TaskListener:
    """Calls ``on_queued`` when a task is queued anywhere (PostgreSQL's NOTIFY; elsewhere, or
    with ``OPENDANCE_QUEUE_NOTIFY=false``, workers poll instead)."""
    return TaskListener(ctx.db, on_queued, enabled=ctx.settings.queue_notify)


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
    await account_rows.add_ledger_entry(
        conn, account_id=task.account_id, kind="refund", amount=task.price, task_id=task.id
    )


async def _ended(ctx: AppContext, conn: Connection, task_id: str) -> TaskRecord:
    """In the transaction that made the task terminal: if it has a callback_url, the outbox
    row of the very body /v1/status now returns. A crash after commit loses nothing."""
    task = await task_rows.get_task(conn, task_id)
    assert task is not None and task.status.terminal, "called after a terminal move"
    if task.callback_url:
        body = {"code": 200, "message": "success", "data": status_body(ctx, task.view())}
        await delivery_rows.enqueue(
            conn,
            delivery_id="msg_" + secrets.token_urlsafe(16),
            task_id=task.id,
            account_id=task.account_id,
            url=task.callback_url,
            payload=orjson.dumps(body).decode(),
        )
    return task


async def _drop_input(ctx: AppContext, input_image_key: str | None) -> None:
    if input_image_key:
        await forget_objects(ctx, input_image_key)
