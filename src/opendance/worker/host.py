"""Where the engine runs: in a thread of the worker, or in a child process the worker owns.

Model engines run in a child process (``ProcessHost``): the model is loaded there once, when the
worker starts, and reused for every task; torch never enters the worker's own process. A hard
crash of the model (a CUDA fault, the kernel's out-of-memory killer) kills only the child: the
task in hand fails with a clear message and a refund, and the worker starts a new child before
it claims another task. Out-of-memory errors that torch raises are caught inside the child,
which frees the memory and stays up.

The two sides talk over a pipe in small tuples (the child's side is ``model_process``):

    worker -> child   ("render", spec, out_path)  ("cancel",)  ("stop",)
    child  -> worker  ("ready", load_seconds)  ("load_failed", message)
                      ("progress", fraction)  ("done", poster_jpeg)
                      ("failed", kind, message)   kind: engine | cancelled | internal
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opendance.engines.base import EngineCapabilities, EngineError
from opendance.errors import OpendanceError
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.render import RenderedVideo, render_to_file

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec
    from opendance.engines.base import Engine
    from opendance.settings import Settings

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

    def __init__(self, engine: Engine, *, model: str | None = None) -> None:
        self.engine = engine
        self.name = engine.name
        self.capabilities = engine.capabilities
        self.model = model

    def start(self) -> float:
        return 0.0

    def ensure_ready(self) -> None:
        pass

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        return render_to_file(self.engine, spec, out_path, control)

    def close(self) -> None:
        pass


class ProcessHost:
    """The engine in a spawned child process, loaded once, restarted after a crash."""

    def __init__(self, settings: Settings) -> None:
        from opendance.engines.registry import capabilities_for, model_label

        self.settings = settings
        self.name = settings.engine
        # known from the settings, before the model loads: a loading worker already tells the
        # API what it will serve
        self.capabilities = capabilities_for(settings)
        self.model = model_label(settings)
        self._context = multiprocessing.get_context("spawn")  # no forked CUDA or threads
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> float:
        from opendance.worker.model_process import child_main

        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=child_main, args=(self.settings, child), name=f"opendance-{self.name}"
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        self.starts += 1
        while True:
            if parent.poll(0.5):
                try:
                    message = parent.recv()
                except EOFError:
                    break
                if message[0] == "ready":
                    log.info(
                        "engine %s loaded in %.1f s (pid %s)", self.name, message[1], process.pid
                    )
                    return float(message[1])
                if message[0] == "load_failed":
                    self._reap()
                    raise EngineLoadFailed(str(message[1]))
            elif not process.is_alive():
                break
        code = process.exitcode
        self._reap()
        raise EngineLoadFailed(f"the engine process exited while loading (exit code {code})")

    def ensure_ready(self) -> None:
        if self._process is None or not self._process.is_alive():
            self._reap()
            self.start()

    def render(self, spec: GenerationSpec, out_path: Path, control: RunControl) -> RenderedVideo:
        self.ensure_ready()
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        conn.send(("render", spec, str(out_path)))
        cancel_sent_at: float | None = None
        while True:
            if control.cancelled and cancel_sent_at is None:
                cancel_sent_at = self._send_cancel(conn)
            if (
                cancel_sent_at is not None
                and time.monotonic() - cancel_sent_at > CANCEL_GRACE_SECONDS
            ):
                log.warning(
                    "engine process did not stop within %.0f s; restarting it", CANCEL_GRACE_SECONDS
                )
                self._kill()
                raise RenderCancelled(control.cancel_reason)
            if not conn.poll(0.2):
                if not process.is_alive():
                    return self._crashed(process)
                continue
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return self._crashed(process)
            outcome = self._handle(message, out_path, control)
            if outcome is not None:
                return outcome
            if cancel_sent_at is None and control.cancelled:
                cancel_sent_at = self._send_cancel(conn)

    def _handle(
        self, message: tuple[Any, ...], out_path: Path, control: RunControl
    ) -> RenderedVideo | None:
        kind = message[0]
        if kind == "progress":
            # once cancelled, report raises: the caller's loop notices and tells the child
            with contextlib.suppress(RenderCancelled):
                control.report(float(message[1]))
            return None
        if kind == "done":
            return RenderedVideo(out_path, bytes(message[1]))
        if kind == "failed":
            reason, text = message[1], str(message[2])
            if reason == "cancelled":
                raise RenderCancelled(control.cancel_reason or text)
            raise EngineError(text)
        log.warning("engine process sent an unknown message %r", kind)
        return None

    def _send_cancel(self, conn: Connection) -> float:
        with contextlib.suppress(OSError):
            conn.send(("cancel",))
        return time.monotonic()

    def _crashed(self, process: BaseProcess) -> RenderedVideo:
        process.join(timeout=5)
        log.error(
            "engine process %s died (exit code %s); it is restarted for the next task",
            process.pid,
            process.exitcode,
        )
        self._reap()
        raise EngineError(CRASH_MESSAGE)

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        self._reap()

    def _reap(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=5)
        self._process, self._conn = None, None

    def close(self) -> None:
        """Ask the child to exit; kill it if it does not."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
        if self._process is not None:
            self._process.join(timeout=10)
        self._kill()


def as_host(engine: Engine | EngineHost) -> EngineHost:
    """An engine object runs in a thread of this process; a host is used as it is."""
    if isinstance(engine, ThreadHost | ProcessHost):
        return engine
    return ThreadHost(engine)  # type: ignore[arg-type]  # mypy cannot narrow a Protocol union


def create_host(settings: Settings) -> EngineHost:
    from opendance.engines.registry import create_engine, model_label, runs_in_child_process

    if runs_in_child_process(settings):
        return ProcessHost(settings)
    return ThreadHost(create_engine(settings), model=model_label(settings))
