"""The worker loop: claim -> render in a thread -> store -> complete (fenced) -> repeat.

A worker runs up to ``OPENDANCE_WORKER_CONCURRENCY`` tasks at once, one per slot; it claims
only tasks its engine can serve (audio, an input image). While a task renders, its own
heartbeat extends its lease and records progress; if the heartbeat finds the lease gone (the
task was re-queued after this worker stalled), that render is cancelled and nothing is
written. Lease reaping runs here too: any worker may requeue (or, after too many attempts, fail
and refund) a task whose lease expired.

A model engine's device is not left waiting for the CPU tail of a task (encode, stills, probe,
upload, completion): with a pipelined host each device has a turn that a slot takes before it
claims and gives back when its task's frames are generated, and the worker runs twice as many
slots as devices, so another slot claims and generates while the first one finishes its tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from opendance.domain.spec import GenerationSpec
from opendance.domain.task_view import ClaimedTask, Lease, ResultFiles
from opendance.engines.base import Engine, EngineError
from opendance.services import tasks, worker_registry
from opendance.services.context import AppContext
from opendance.services.tasks import LeaseStatus, forget_objects
from opendance.waits import first_of
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.host import EngineHost, HostConfigError, as_host
from opendance.worker.inputs import InputImageError, generation_spec
from opendance.worker.render import RenderedVideo

log = logging.getLogger("opendance.worker")
T = TypeVar("T")

GENERIC_FAILURE = "the video could not be generated because of an internal error; credits refunded"
STORAGE_FAILURE = "the finished video could not be stored; credits refunded"


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        ctx: AppContext,
        engine: Engine | EngineHost,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.host: EngineHost = as_host(engine)
        self.id = worker_id or new_worker_id()
        self.settings = ctx.settings
        self.concurrency = concurrency or ctx.settings.worker_concurrency
        if self.host.capacity is not None and self.concurrency > self.host.capacity:
            raise HostConfigError(
                f"the {self.host.name} engine host renders {self.host.capacity} task(s) at "
                f"once; it cannot serve a worker concurrency of {self.concurrency}"
            )
        # A pipelined host: one slot per device generates, one more finishes a tail.
        self.slots = self.concurrency * 2 if self.host.pipelined else self.concurrency
        self._devices = asyncio.Semaphore(self.concurrency)
        self.stopping = asyncio.Event()  # finish the tasks in hand, claim no more
        self.aborting = asyncio.Event()  # hand the tasks in hand back now
        # the tasks in hand, in the order they were claimed, with their controls; keyed by
        # (task, lease token): a slot that stalled past its lease may still wind down a task
        # that was given out again, and only its own entry is its to remove
        self.in_hand: dict[tuple[str, int], RunControl] = {}
        self.completed = 0
        self._claims = 0  # claims made or being made, counted against max_tasks
        self._reloads = 0  # engine (re)loads under way
        # called after a task became terminal (e.g. to wake this process's webhook dispatcher)
        self.on_terminal: Callable[[], None] = lambda: None
        self._last_reap = 0.0
        # set by a NOTIFY (PostgreSQL) when a task is queued: idle slots claim at once
        self._wake = asyncio.Event()
        self._listener = tasks.queued_listener(ctx, self._wake.set)
        # Scratch space next to the object store: finished videos move into the store with an
        # atomic rename, and a killed worker's leftovers are found and swept by the next one.
        self._workdir = scratch_dir(ctx.settings.data_dir)
        # Renders get threads of their own, one per slot, for the length of a run: in the
        # loop's default pool (a few threads on a small machine) long renders would queue up
        # uploads, engine reloads and the DNS lookups of new database connections.
        self._renders: ThreadPoolExecutor | None = None

    @property
    def state(self) -> str:
        """As the workers table shows it; /readyz does not count a loading worker."""
        if self.in_hand:
            return "busy"
        return "loading" if self._reloads else "idle"

    async def run(self, *, max_tasks: int | None = None) -> None:
        """Work until ``stop()`` (or ``max_tasks`` tasks claimed and done), with up to
        ``concurrency`` tasks at once: one claim/render loop per slot, sharing this process's
        connection pool, wake-ups and engine host."""
        await worker_registry.register(
            self.ctx,
            self.id,
            engine=self.host.name,
            model=self.host.model,
            capabilities=self.host.capabilities,
            concurrency=self.concurrency,
        )
        # The row is kept fresh apart from the tasks: a model loads for minutes, and a silent
        # worker's row is eventually forgotten.
        reporting = asyncio.create_task(self._report_every())
        self._renders = ThreadPoolExecutor(self.slots, thread_name_prefix="render")
        try:
            # A model loads once per worker, before the first claim; /readyz does not count a
            # loading worker, so a fleet is not reported ready while its models load.
            load_seconds = await self._loading(self.host.start)
            await self._try_report()
            log.info(
                "worker %s ready (engine %s, %d task(s) at once, loaded in %.1f s)",
                self.id,
                self.host.name,
                self.concurrency,
                load_seconds,
                extra={**self._fields(), "engine": self.host.name, "load_seconds": load_seconds},
            )
            try:
                async with asyncio.TaskGroup() as slots:
                    for _ in range(self.slots):
                        slots.create_task(self._slot(max_tasks))
            except BaseExceptionGroup as failed:
                # a slot failed (say the database went away) and the others were cancelled:
                # their leases run out and other workers take the tasks over
                raise failed.exceptions[0] from None
        finally:
            reporting.cancel()
            await self._listener.close()
            await asyncio.to_thread(self.host.close)
            await worker_registry.unregister(self.ctx, self.id)
            self._renders.shutdown(wait=False)
            shutil.rmtree(self._workdir, ignore_errors=True)
            log.info("worker %s stopped", self.id, extra=self._fields())

    async def _slot(self, max_tasks: int | None) -> None:
        """One task at a time: claim, render, report; until stopped or ``max_tasks`` reached."""
        while not self.stopping.is_set():
            await self._reap_if_due()
            await self._loading(self.host.ensure_ready)
            await self._listener.ensure()
            # The device first: a task claimed is never left waiting for one.
            turn = await DeviceTurn.take(self._devices)
            try:
                if self.stopping.is_set():
                    return
                # No await from this check to the count: sibling slots must not claim past it.
                if max_tasks is not None and self._claims >= max_tasks:
                    return
                self._wake.clear()
                self._claims += 1
                try:
                    task = await self._claim()
                except BaseException:
                    self._claims -= 1
                    raise
                if task is None:
                    self._claims -= 1
                    turn.give_back()
                    await first_of(self.stopping, self._wake, seconds=self.settings.poll_seconds)
                    continue
                # there may be more: idle sibling slots look too, without waiting for a poll
                self._wake.set()
                await self._process(task, turn)
                self.completed += 1
            finally:
                turn.give_back()

    async def _loading(self, load: Callable[[], T]) -> T:
        """Run a (re)load of the engine in a thread; meanwhile an idle worker shows as loading."""
        self._reloads += 1
        try:
            return await asyncio.to_thread(load)
        finally:
            self._reloads -= 1

    async def _report_every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            await self._try_report()

    async def _try_report(self) -> None:
        """A liveness report; a failed one (database busy or away) is logged, and the next
        one tries again: it must not end a slot, and with it the tasks in hand."""
        try:
            await self._report()
        except Exception:
            log.warning("worker %s: could not report", self.id, exc_info=True, extra=self._fields())

    def stop(self) -> None:
        """Graceful: finish the tasks in hand, then exit."""
        self.stopping.set()

    def abort(self) -> None:
        """Now: cancel the renders and hand the tasks back to the queue."""
        self.stopping.set()
        self.aborting.set()
        for control in self.in_hand.values():
            control.cancel("the worker is shutting down")

    async def _claim(self) -> ClaimedTask | None:
        return await tasks.claim(
            self.ctx,
            worker_id=self.id,
            capabilities=self.host.capabilities,
            engine=self.host.name,
            model=self.host.model,
            # a task a slot of ours still winds down (its lease lost while this process
            # stalled) is not ours to run twice at once; read when the claim's statement is
            # built, inside its transaction: a claim that waited for the database's lock
            # meanwhile must not pass over a task another slot took up in the meantime
            exclude=_TaskIdsInHand(self.in_hand),
        )

    async def _process(self, task: ClaimedTask, turn: DeviceTurn) -> None:
        lease = task.lease
        held = (task.id, lease.token)
        control = self.in_hand[held] = RunControl()
        # the frames are made: the device takes the next task while this one's tail runs
        control.when_generated(turn.give_back_soon)
        if self.aborting.is_set():
            control.cancel("the worker is shutting down")
        log.info(
            "task %s claimed (attempt %d)",
            task.id,
            task.attempts,
            extra={**self._fields(task.id), "attempt": task.attempts},
        )
        # The worker's row says busy beside the render's start: the device does not wait for
        # it. Never cancelled (a write cut off halfway can leave SQLite's lock taken); awaited.
        reporting = asyncio.create_task(self._try_report())
        heartbeat = asyncio.create_task(self._heartbeat(lease, control))
        out_path = self._workdir / f"{task.id}-{lease.token}.mp4"
        try:
            try:
                spec = await generation_spec(self.ctx, task)
                rendered = await self._render(spec, control, out_path)
            except RenderCancelled:
                await self._hand_back(lease, control)
                return
            except (InputImageError, EngineError) as exc:
                await self._fail(task, str(exc))
                return
            except Exception:
                log.exception("task %s: render failed", task.id, extra=self._fields(task.id))
                await self._fail(task, GENERIC_FAILURE)
                return
            await self._finish(task, rendered, made=spec)
        finally:
            heartbeat.cancel()
            del self.in_hand[held]
            out_path.unlink(missing_ok=True)
            await reporting
            await self._try_report()

    async def _render(
        self, spec: GenerationSpec, control: RunControl, out_path: Path
    ) -> RenderedVideo:
        control.report(0.0)
        loop = asyncio.get_running_loop()
        assert self._renders is not None, "renders run within run()"
        try:
            return await loop.run_in_executor(
                self._renders, self.host.render, spec, out_path, control
            )
        except asyncio.CancelledError:
            # the worker is going down (a sibling slot failed): stop the render thread too
            control.cancel("the worker is stopping")
            raise

    async def _finish(
        self, task: ClaimedTask, rendered: RenderedVideo, *, made: GenerationSpec
    ) -> None:
        files = ResultFiles.made_by(task.id, task.lease.token)
        try:
            await self._store(files, rendered)
        except Exception:
            # A remote store can be down for longer than its client retries: the task fails
            # (refunded) rather than the worker, which goes on with the next task.
            log.exception("task %s: storing the video failed", task.id)
            await forget_objects(self.ctx, *files.keys)
            await self._fail(task, STORAGE_FAILURE)
            return
        if await tasks.complete(self.ctx, task, files, aspect_ratio=made.aspect_ratio):
            log.info("task %s succeeded", task.id, extra=self._fields(task.id))
            self.on_terminal()
            return
        log.warning(
            "task %s: lease lost before completion; result discarded",
            task.id,
            extra=self._fields(task.id),
        )
        await forget_objects(self.ctx, *files.keys)

    async def _store(self, files: ResultFiles, rendered: RenderedVideo) -> None:
        """Upload the video and its stills side by side (on a remote store each upload is a
        round trip). Every upload runs to its end before a failure is raised: the caller
        deletes them all then, and none may land after that."""
        stills = rendered.stills
        assert files.poster_key and files.sprite_key and files.last_frame_key
        store = self.ctx.store
        outcomes = await asyncio.gather(
            store.put_file(files.video_key, rendered.video_path, "video/mp4"),
            store.put_bytes(files.poster_key, stills.poster, "image/jpeg"),
            store.put_bytes(files.sprite_key, stills.sprite, "image/jpeg"),
            store.put_bytes(files.last_frame_key, stills.last_frame, "image/png"),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _fail(self, task: ClaimedTask, message: str) -> None:
        if await tasks.fail(self.ctx, task, message):
            log.info(
                "task %s failed: %s",
                task.id,
                message,
                extra={**self._fields(task.id), "error": message},
            )
            self.on_terminal()

    async def _hand_back(self, lease: Lease, control: RunControl) -> None:
        if self.aborting.is_set():
            released = await tasks.hand_back(self.ctx, lease)
            log.info(
                "task %s handed back to the queue (%s)",
                lease.task_id,
                released,
                extra=self._fields(lease.task_id),
            )
        else:
            log.warning(
                "task %s: %s",
                lease.task_id,
                control.cancel_reason,
                extra=self._fields(lease.task_id),
            )

    async def _heartbeat(self, lease: Lease, control: RunControl) -> None:
        """Renew the lease until cancelled. A failed write (database busy) is retried on the
        next beat; the render is stopped only when the lease is certainly gone: another worker
        holds it, or it ran out without a successful renewal."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                status = await tasks.report_progress(self.ctx, lease, control.progress)
            except Exception:
                log.warning(
                    "task %s: heartbeat failed; retrying",
                    lease.task_id,
                    exc_info=True,
                    extra=self._fields(lease.task_id),
                )
                if time.monotonic() - renewed < self.settings.lease_seconds:
                    continue
                status = LeaseStatus.LOST
            else:
                renewed = time.monotonic()
            if status is LeaseStatus.CANCELLED:
                control.cancel("the task was cancelled by its owner")
                return
            if status is LeaseStatus.LOST:
                control.cancel("the lease was lost; another worker owns the task now")
                return

    def _fields(self, task_id: str | None = None) -> dict[str, str]:
        """The ids a log record of this worker carries (fields of a JSON log line)."""
        return (
            {"worker_id": self.id}
            if task_id is None
            else {"worker_id": self.id, "task_id": task_id}
        )

    async def _report(self) -> None:
        await worker_registry.report(
            self.ctx, self.id, lambda: (self.state, [task_id for task_id, _ in self.in_hand])
        )

    async def _reap_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_reap < self.settings.lease_seconds / 2:
            return
        self._last_reap = now
        await tasks.reap_expired(self.ctx)
        await tasks.expire_retained(self.ctx)


class DeviceTurn:
    """A slot's hold on one of the worker's devices, from before its claim until its task's
    device phase is over; given back once, from the loop or from the render thread."""

    def __init__(self, devices: asyncio.Semaphore) -> None:
        self._devices = devices
        self._loop = asyncio.get_running_loop()
        self._held = True

    @classmethod
    async def take(cls, devices: asyncio.Semaphore) -> DeviceTurn:
        await devices.acquire()
        return cls(devices)

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._devices.release()

    def give_back_soon(self) -> None:
        """From another thread: the loop gives the turn back."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self.give_back)


class _TaskIdsInHand(Collection[str]):
    """The ids of the tasks a worker's slots hold, as they are whenever it is read."""

    def __init__(self, in_hand: Mapping[tuple[str, int], RunControl]) -> None:
        self._in_hand = in_hand

    def _ids(self) -> set[str]:
        return {task_id for task_id, _ in self._in_hand}

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._ids()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())


def scratch_dir(data_dir: Path) -> Path:
    """A fresh scratch directory for this process; sweeps those of dead workers on this host."""
    root = data_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for stale in root.glob(f"{host}-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    path = root / f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
    path.mkdir()
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
