"""Where the engine runs: in a thread of the worker, or in a child process the worker owns.

Model engines run in a child process (``ProcessHost``): the model is loaded there once, when the
worker starts, and reused for every task; torch never enters the worker's own process. A hard
crash of the model (a CUDA fault, the kernel's out-of-memory killer) kills only the child: the
tasks in its hands (one generating, one in its tail) fail with a clear message and a refund,
and the worker starts a new child before it claims another task. Out-of-memory errors that
torch raises are caught inside the child, which frees the memory and stays up.

A worker that runs N tasks at once (``OPENDANCE_WORKER_CONCURRENCY``) needs N renders at once.
The preview and upstream engines render side by side in threads (``ThreadHost``). A model
pipeline makes one video at a time, so a model worker gets N children (``ProcessHostPool``):
N copies of the model, on one device or spread over several. Each child generates the next
video while it encodes the last one (``OPENDANCE_PIPELINE_TAIL``, see ``model_process``).

The two sides talk over a pipe in the small typed messages of ``worker.messages`` (the
child's side is ``model_process``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import queue
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opendance.engines.base import EngineCapabilities, EngineError
from opendance.errors import OpendanceError
from opendance.worker import messages as msg
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.render import RenderedVideo, render_to_file

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec
    from opendance.engines.base import Engine
    from opendance.settings import Settings
    from opendance.worker.model_process import EngineFactory

log = logging.getLogger("opendance.worker")

CRASH_MESSAGE = (
    "the video model stopped unexpectedly while making this video (for example out of "
    "memory); credits refunded"
)
CANCEL_GRACE_SECONDS = 30.0  # a step of a large model can take this long on a slow GPU


class EngineLoadFailed(OpendanceError):
    """The model could not be loaded; the worker cannot serve."""


class EngineHost(Protocol):
    name: str
    capabilities: EngineCapabilities
    model: str | None
    """The model it runs (its directory's name), for the worker's row and the tasks it claims."""
    capacity: int | None
    """How many renders it can run at once (None: any number)."""
    pipelined: bool
    """A render announces the end of its device phase (``RunControl.generated``) and the
    host takes the next render then, while the last one finishes its tail."""

    def start(self) -> float:
        """Make the engine ready (load the model); returns the seconds it took."""
        ...

    def ensure_ready(self) -> None:
        """Before a claim: bring a crashed engine back (blocking while it loads)."""
        ...

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        """Blocking: one video into ``out_path``. Raises EngineError or RenderCancelled."""
        ...

    def close(self) -> None: ...


class ThreadHost:
    """The engine in the worker's own process; ``render`` runs in the caller's thread."""

    def __init__(
        self, engine: Engine, *, model: str | None = None, capacity: int | None = None
    ) -> None:
        self.engine = engine
        self.name = engine.name
        self.capabilities = engine.capabilities
        self.model = model
        # The preview and upstream engines keep no state between calls: any number of renders
        # may share them. A model pipeline cannot make two videos at once (capacity 1).
        self.capacity = capacity
        # the preview engine makes its frames as the encoder takes them: nothing to overlap
        self.pipelined = False

    def start(self) -> float:
        return 0.0

    def ensure_ready(self) -> None:
        pass

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        return render_to_file(self.engine, spec, out_path, control)

    def close(self) -> None:
        pass


class _Crashed:
    """Put in a job's mailbox when its engine process is gone."""


CRASHED = _Crashed()
Mailbox = queue.SimpleQueue[msg.JobMessage | _Crashed]


class _Child:
    """One running engine process: its pipe, the mailboxes of the jobs it holds, and the
    thread that reads the pipe and sorts the replies into them."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.jobs: dict[int, Mailbox] = {}
        self.lock = threading.Lock()  # the jobs, and sends on the pipe (one thread at a time)
        self.reader = threading.Thread(target=self._read, name="engine-pipe", daemon=True)

    def send(self, message: msg.ToChild) -> None:
        with self.lock:
            self.conn.send(message)

    def open_job(self, job: int) -> Mailbox:
        box: Mailbox = queue.SimpleQueue()
        with self.lock:
            if not self.reader.is_alive():
                box.put(CRASHED)
            self.jobs[job] = box
        return box

    def close_job(self, job: int) -> None:
        with self.lock:
            self.jobs.pop(job, None)

    def _read(self) -> None:
        while True:
            try:
                if not self.conn.poll(0.2):
                    if self.process.is_alive():
                        continue
                    break
                message: msg.FromChild = self.conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, msg.Ready | msg.LoadFailed):
                log.warning("engine process sent %r while rendering; ignored", message)
                continue
            with self.lock:
                box = self.jobs.get(message.job)
            if box is not None:  # else a job whose render already gave up on it
                box.put(message)
        # every job in hand fails with the crash, both the generating and the encoding one
        with self.lock:
            for box in self.jobs.values():
                box.put(CRASHED)


class ProcessHost:
    """The engine in a spawned child process, loaded once, restarted after a crash.

    With ``OPENDANCE_PIPELINE_TAIL`` (``pipelined``) the child takes a job while the last one
    is still in its tail: ``render`` may run in two threads at once, one job generating, one
    being encoded; the child's ``Generated`` sets the render's control ``generated``, and the
    worker lets the next task be claimed for this device then."""

    def __init__(
        self,
        settings: Settings,
        *,
        create_engine: EngineFactory | None = None,
        pipelined: bool | None = None,
    ) -> None:
        """``create_engine``: another engine than the settings' (tests, benchmarks).
        ``pipelined``: None follows ``OPENDANCE_PIPELINE_TAIL`` for a model engine; an engine
        that makes its frames as the encoder takes them (the preview) has nothing to overlap,
        and a task claimed early would only wait for the tail."""
        from opendance.engines.registry import capabilities_for, loads_model, model_label

        self.settings = settings
        self.name = settings.engine
        # known from the settings, before the model loads: a loading worker already tells the
        # API what it will serve
        self.capabilities = capabilities_for(settings)
        self.model = model_label(settings)
        self.capacity: int | None = 1  # one pipeline, one video at a time; see ProcessHostPool
        if pipelined is None:
            pipelined = settings.pipeline_tail and loads_model(settings)
        self.pipelined = pipelined
        self._create_engine = create_engine
        self._context = multiprocessing.get_context("spawn")  # no forked CUDA or threads
        self._child: _Child | None = None
        self._lifecycle = threading.Lock()  # start, restart and reap: one thread at a time
        self._job_ids = itertools.count(1)
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child is not None else None

    @property
    def alive(self) -> bool:
        return self._child is not None and self._child.process.is_alive()

    def start(self) -> float:
        with self._lifecycle:
            return self._start()

    def _start(self) -> float:
        from opendance.worker.model_process import child_main

        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=child_main,
            args=(self.settings, child, self._create_engine),
            kwargs={"pipeline": self.pipelined},
            name=f"opendance-{self.name}",
        )
        process.start()
        child.close()
        self.starts += 1
        while True:
            if parent.poll(0.5):
                try:
                    message: msg.FromChild = parent.recv()
                except EOFError:
                    break
                match message:
                    case msg.Ready(load_seconds):
                        log.info(
                            "engine %s loaded in %.1f s (pid %s)",
                            self.name,
                            load_seconds,
                            process.pid,
                        )
                        self._child = _Child(process, parent)
                        self._child.reader.start()
                        return load_seconds
                    case msg.LoadFailed(text):
                        _reap(process, parent)
                        raise EngineLoadFailed(text)
                    case _:
                        log.warning("engine process sent %r while loading; ignored", message)
            elif not process.is_alive():
                break
        code = process.exitcode
        _reap(process, parent)
        raise EngineLoadFailed(f"the engine process exited while loading (exit code {code})")

    def ensure_ready(self) -> None:
        self._ready_child()

    def _ready_child(self) -> _Child:
        with self._lifecycle:
            if self._child is None or not self._child.process.is_alive():
                self._forget(self._child)
                self._start()
            assert self._child is not None
            return self._child

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        child = self._ready_child()
        job = next(self._job_ids)
        box = child.open_job(job)
        try:
            with contextlib.suppress(OSError):  # a dead child: its reader reports the crash
                child.send(msg.Render(job, spec, str(out_path)))
            return self._follow(child, job, box, out_path, control)
        finally:
            child.close_job(job)
            control.generated()  # whatever the outcome, the device is done with this job

    def _follow(
        self, child: _Child, job: int, box: Mailbox, out_path: Path, control: RunControl
    ) -> RenderedVideo:
        cancel_sent_at: float | None = None
        while True:
            if control.cancelled and cancel_sent_at is None:
                with contextlib.suppress(OSError):
                    child.send(msg.Cancel(job))
                cancel_sent_at = time.monotonic()
            if (
                cancel_sent_at is not None
                and time.monotonic() - cancel_sent_at > CANCEL_GRACE_SECONDS
            ):
                # the other job this child holds, if any, fails with the crash message
                log.warning(
                    "engine process did not stop within %.0f s; restarting it", CANCEL_GRACE_SECONDS
                )
                self._kill(child)
                raise RenderCancelled(control.cancel_reason)
            try:
                message = box.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(message, _Crashed):
                return self._crashed(child)
            outcome = self._handle(message, out_path, control)
            if outcome is not None:
                return outcome

    def _handle(
        self, message: msg.JobMessage, out_path: Path, control: RunControl
    ) -> RenderedVideo | None:
        match message:
            case msg.Progress(_, fraction):
                # once cancelled, report raises: the caller's loop notices and tells the child
                with contextlib.suppress(RenderCancelled):
                    control.report(fraction)
                return None
            case msg.Generated():
                control.generated()
                return None
            case msg.Done(_, stills):
                return RenderedVideo(out_path, stills)
            case msg.Failed(_, "cancelled", text):
                raise RenderCancelled(control.cancel_reason or text)
            case msg.Failed(_, _, text):
                raise EngineError(text)

    def _crashed(self, child: _Child) -> RenderedVideo:
        with self._lifecycle:
            if self._child is child:
                child.process.join(timeout=5)
                log.error(
                    "engine process %s died (exit code %s); it is restarted for the next task",
                    child.process.pid,
                    child.process.exitcode,
                )
                self._forget(child)
        raise EngineError(CRASH_MESSAGE)

    def _kill(self, child: _Child) -> None:
        with self._lifecycle:
            if child.process.is_alive():
                child.process.kill()
            if self._child is child:
                self._forget(child)

    def _forget(self, child: _Child | None) -> None:
        if child is not None:
            _reap(child.process, child.conn)
        self._child = None

    def close(self) -> None:
        """Ask the child to exit; kill it if it does not."""
        child = self._child
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.send(msg.Stop())
        child.process.join(timeout=10)
        self._kill(child)


def _reap(process: BaseProcess, conn: Connection) -> None:
    conn.close()
    process.join(timeout=5)


class ProcessHostPool:
    """N engine processes behind one host, for a worker that runs N tasks at once: N copies of
    the model, each loaded once in its own child, each generating one video at a time. Each
    child may have its own device (``OPENDANCE_DEVICE=cuda:0,cuda:1``): one worker process
    then serves several GPUs. A render takes a child whose device is free (pipelined: it may
    still be encoding its last video); a crashed child is restarted before it renders again,
    the others render on."""

    def __init__(self, hosts: list[ProcessHost]) -> None:
        self.hosts = hosts
        self.name = hosts[0].name
        self.capabilities = hosts[0].capabilities
        self.model = hosts[0].model
        self.capacity: int | None = len(hosts)
        self.pipelined = hosts[0].pipelined
        self._free: queue.SimpleQueue[ProcessHost] = queue.SimpleQueue()
        for host in hosts:
            self._free.put(host)
        self._restarting = threading.Lock()

    def start(self) -> float:
        # One after another: copies loading side by side would need their memory (host RAM
        # on the way to the GPU) all at once.
        started = time.monotonic()
        for host in self.hosts:
            host.start()
        return time.monotonic() - started

    def ensure_ready(self) -> None:
        """Restart the crashed children that are not rendering (those that are find out and
        restart at their next render)."""
        with self._restarting:
            idle: list[ProcessHost] = []
            with contextlib.suppress(queue.Empty):
                while True:
                    idle.append(self._free.get_nowait())
            try:
                for host in idle:
                    host.ensure_ready()
            finally:
                for host in idle:
                    self._free.put(host)

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        # the worker runs at most capacity generations: a device is free (or about to be:
        # the render that freed it puts its host back right after telling the worker)
        host = self._free.get()
        given_back = threading.Lock()

        def give_back() -> None:
            if given_back.acquire(blocking=False):
                self._free.put(host)

        control.when_generated(give_back)
        try:
            return host.render(spec, out_path, control)
        finally:
            give_back()

    def close(self) -> None:
        for host in self.hosts:
            host.close()


class HostConfigError(OpendanceError):
    """The worker's settings ask for what its engine host cannot do."""


def as_host(engine: Engine | EngineHost) -> EngineHost:
    """An engine object runs in a thread of this process; a host is used as it is."""
    if isinstance(engine, ThreadHost | ProcessHost | ProcessHostPool):
        return engine
    return ThreadHost(engine)  # type: ignore[arg-type]  # mypy cannot narrow a Protocol union


def create_host(settings: Settings) -> EngineHost:
    """The engine host for a worker of these settings, able to run
    ``settings.worker_concurrency`` renders at once."""
    from opendance.engines.registry import (
        create_engine,
        loads_model,
        model_label,
        runs_in_child_process,
    )

    check_concurrency(settings)
    concurrency = settings.worker_concurrency
    if runs_in_child_process(settings):
        devices = slot_devices(settings.device, concurrency)
        hosts = [ProcessHost(settings.model_copy(update={"device": d})) for d in devices]
        return hosts[0] if concurrency == 1 else ProcessHostPool(hosts)
    capacity = 1 if loads_model(settings) else None
    return ThreadHost(create_engine(settings), model=model_label(settings), capacity=capacity)


def check_concurrency(settings: Settings) -> None:
    """Refuse, before anything loads, a concurrency the engine's host cannot run."""
    from opendance.engines.registry import loads_model, runs_in_child_process

    concurrency = settings.worker_concurrency
    if runs_in_child_process(settings):
        slot_devices(settings.device, concurrency)
    elif loads_model(settings) and concurrency > 1:
        raise HostConfigError(
            f"the {settings.engine} engine in the worker's own process renders one task at a "
            f"time; for OPENDANCE_WORKER_CONCURRENCY={concurrency} run it in child processes "
            "(OPENDANCE_ENGINE_PROCESS=process or auto: one model copy each)"
        )


def slot_devices(device: str, concurrency: int) -> list[str]:
    """The device of each engine process: ``cuda:0,cuda:1`` spreads them in turn over those
    devices; a single device holds every copy."""
    devices = [name.strip() for name in device.split(",") if name.strip()] or ["auto"]
    if len(devices) > concurrency:
        raise HostConfigError(
            f"OPENDANCE_DEVICE names {len(devices)} devices but the worker runs {concurrency} "
            f"task(s) at once: give --concurrency {len(devices)} (one model copy per device) "
            "or name fewer devices"
        )
    return [devices[slot % len(devices)] for slot in range(concurrency)]
