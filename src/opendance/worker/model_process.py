"""The child process of a ``ProcessHost``: load the engine once, then render on request.

Two threads do the work, so that the device never waits for the CPU:

    device thread   engine.generate (the model on its device) for one job after another
    tail thread     encode, stills and probe of the job the device finished before

The device thread hands a finished job to the tail thread only when the tail is idle: at most
one finished video waits per process (its frames held in memory), and until the handover the
device is not announced free (``Generated``), so the worker sends no further job meanwhile.
Not pipelined (``OPENDANCE_PIPELINE_TAIL`` off, or the preview), the device thread runs each
job's tail itself.

The main thread receives jobs and cancellations and sends progress; the working threads send
a job's end and the device's release themselves, at once, so that the worker claims the next
task without waiting for a poll. Sends hold a lock: the pipe never carries two at once.
Progress of either job reaches the main thread through its ``RunControl``; a cancellation
from the worker sets that control, which stops the engine or the encoder at its next step.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from opendance.engines.base import EngineError
from opendance.errors import OpendanceError
from opendance.logs import configure_logging
from opendance.worker import messages as msg
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.render import Generated, discard, encode_tail, generate

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec
    from opendance.engines.base import Engine
    from opendance.settings import Settings

log = logging.getLogger("opendance.engine_process")

OOM_MESSAGE = (
    "the video model ran out of memory making this video; credits refunded "
    "(a lower resolution or a shorter duration needs less)"
)
INTERNAL_MESSAGE = "the video could not be generated because of an internal error; credits refunded"

EngineFactory = Callable[["Settings"], "Engine"]


def child_main(
    settings: Settings,
    conn: Connection,
    create_engine: EngineFactory | None = None,
    *,
    pipeline: bool = True,
) -> None:
    """``create_engine`` builds another engine than the settings' (a module-level function,
    pickled by name): tests and benchmarks run their own engines on this same path.
    ``pipeline``: the tail runs in a thread of its own (else the device thread runs it)."""
    # The worker decides when this process stops (a drain finishes the task first). A Ctrl-C in
    # the terminal or a service manager's SIGTERM reaches the whole process group, this child
    # included: ignored here, so they drain through the worker instead of killing the render.
    # If the worker itself dies, the pipe closes and this process exits on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log_level, settings.log_format)  # a spawned child starts bare
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if create_engine is None:
        from opendance.engines.registry import create_engine as registry_engine

        create_engine = registry_engine
    started = time.monotonic()
    try:
        engine = create_engine(settings)
    except OpendanceError as exc:
        _send(conn, msg.LoadFailed(str(exc)))
        return
    except Exception as exc:
        log.exception("loading the engine failed")
        _send(conn, msg.LoadFailed(f"loading the engine failed: {type(exc).__name__}: {exc}"))
        return
    _send(conn, msg.Ready(time.monotonic() - started))
    EngineProcess(engine, conn, pipeline=pipeline).serve()


def _send(conn: Connection, message: msg.FromChild) -> None:
    conn.send(message)


@dataclass
class _Job:
    id: int
    spec: GenerationSpec
    out_path: Path
    control: RunControl = field(default_factory=RunControl)
    progress_sent: int = -1


class EngineProcess:
    """The jobs in hand (at most one generating, one in its tail) and the threads that run
    them; ``serve`` is the main thread's loop over the pipe."""

    def __init__(self, engine: Engine, conn: Connection, *, pipeline: bool) -> None:
        self.engine = engine
        self.conn = conn
        self.pipeline = pipeline
        self._lock = threading.Lock()  # the jobs; held while their progress is sent
        self._jobs: dict[int, _Job] = {}
        self._sending = threading.Lock()
        self._to_generate: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._to_encode: queue.SimpleQueue[tuple[_Job, Generated]] = queue.SimpleQueue()
        self._tail_idle = threading.Semaphore(1)

    def serve(self) -> None:
        threading.Thread(target=self._device_loop, name="device", daemon=True).start()
        if self.pipeline:
            threading.Thread(target=self._tail_loop, name="tail", daemon=True).start()
        try:
            while True:
                if self.conn.poll(0.05):
                    try:
                        message: msg.ToChild = self.conn.recv()
                    except (EOFError, OSError):
                        return  # the worker is gone
                    if not self._receive(message):
                        return
                self._flush()
        finally:
            self._cancel_all("the engine process is stopping")

    def _receive(self, message: msg.ToChild) -> bool:
        """Act on one message from the worker; False when this process is to stop."""
        match message:
            case msg.Render(job_id, spec, out_path):
                job = _Job(job_id, spec, Path(out_path))
                with self._lock:
                    self._jobs[job_id] = job
                self._to_generate.put(job)
            case msg.Cancel(job_id):
                with self._lock:
                    found = self._jobs.get(job_id)
                if found is not None:  # else it crossed the job's end: nothing to stop
                    found.control.cancel("cancelled by the worker")
            case msg.Stop():
                return False
        return True

    def _post(self, message: msg.FromChild) -> None:
        """Send from any thread (if the worker is gone, the main thread finds out and exits)."""
        with self._sending, contextlib.suppress(OSError):
            _send(self.conn, message)

    def _flush(self) -> None:
        """Send each job's new progress. A job leaves ``_jobs`` (under the same lock) before
        its last message is sent: no progress follows it."""
        with self._lock:
            for job in self._jobs.values():
                progress = job.control.progress
                if progress != job.progress_sent:
                    job.progress_sent = progress
                    self._post(msg.Progress(job.id, progress / 100))

    def _finish(self, job: _Job, message: msg.Done | msg.Failed) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        progress = job.control.progress
        if progress != job.progress_sent:  # its last progress, which the loop may not have seen
            self._post(msg.Progress(job.id, progress / 100))
        self._post(message)

    def _cancel_all(self, reason: str) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.control.cancel(reason)

    def _device_loop(self) -> None:
        while True:
            job = self._to_generate.get()
            if job.control.cancelled:  # before it began
                self._finish(job, msg.Failed(job.id, "cancelled", job.control.cancel_reason))
                continue
            try:
                generated = generate(self.engine, job.spec, job.control)
            except Exception as exc:
                self._finish(job, _failure(job.id, exc))
                _free_memory(failed=True)
                continue
            if not self.pipeline:
                self._tail(job, generated)
            elif self._wait_for_idle_tail(job):
                self._to_encode.put((job, generated))
                self._post(msg.Generated(job.id))
            else:
                discard(generated)
                self._finish(job, msg.Failed(job.id, "cancelled", job.control.cancel_reason))
            del generated
            # the pipeline's working memory, while the worker claims the next task
            _free_memory()

    def _wait_for_idle_tail(self, job: _Job) -> bool:
        """Hold the finished job (and the device) until the tail takes it; False when the job
        is cancelled meanwhile."""
        while not self._tail_idle.acquire(timeout=0.05):
            if job.control.cancelled:
                return False
        return True

    def _tail_loop(self) -> None:
        while True:
            job, generated = self._to_encode.get()
            try:
                self._tail(job, generated)
            finally:
                del generated  # the frames go before the next job is handed over
                self._tail_idle.release()

    def _tail(self, job: _Job, generated: Generated) -> None:
        try:
            rendered = encode_tail(generated, job.out_path)
        except Exception as exc:
            discard(generated)
            self._finish(job, _failure(job.id, exc))
            return
        self._finish(job, msg.Done(job.id, rendered.stills))


def _failure(job_id: int, exc: Exception) -> msg.Failed:
    if isinstance(exc, RenderCancelled):
        return msg.Failed(job_id, "cancelled", str(exc))
    if isinstance(exc, EngineError):
        return msg.Failed(job_id, "engine", str(exc))
    if _is_out_of_memory(exc):
        log.warning("out of memory: %s", exc)
        return msg.Failed(job_id, "engine", OOM_MESSAGE)
    log.exception("render failed", exc_info=exc)
    return msg.Failed(job_id, "internal", INTERNAL_MESSAGE)


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _free_memory(*, failed: bool = False) -> None:
    """After a job: a pipeline's tensors caught in reference cycles go now, not at some later
    collection, and CUDA's cache is returned. An engine without torch (it was never imported:
    importing it takes seconds) holds no device memory; a full collection holds the GIL, and
    with it the other job's thread, so it runs only where it frees something, or after a
    failure (a MemoryError's frames)."""
    torch = sys.modules.get("torch")
    if torch is None and not failed:
        return
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
