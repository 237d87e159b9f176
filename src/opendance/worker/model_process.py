"""The child process of a ``ProcessHost``: load the engine once, then render on request.

The main thread owns the pipe: it receives jobs and cancellations and sends every message,
so the pipe is never used from two threads. The render itself runs in a second thread; its
progress reaches the main thread through a ``RunControl``, and a cancellation from the worker
sets that control, which stops the engine at its next step.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opendance.engines.base import EngineError
from opendance.errors import OpendanceError
from opendance.logs import configure_logging
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.render import render_to_file

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


def child_main(settings: Settings, conn: Connection) -> None:
    # The worker decides when this process stops (a drain finishes the task first). A Ctrl-C in
    # the terminal or a service manager's SIGTERM reaches the whole process group, this child
    # included: ignored here, so they drain through the worker instead of killing the render.
    # If the worker itself dies, the pipe closes and this process exits on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log_level, settings.log_format)  # a spawned child starts bare
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from opendance.engines.registry import create_engine

    started = time.monotonic()
    try:
        engine = create_engine(settings)
    except OpendanceError as exc:
        conn.send(("load_failed", str(exc)))
        return
    except Exception as exc:
        log.exception("loading the engine failed")
        conn.send(("load_failed", f"loading the engine failed: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", time.monotonic() - started))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the worker is gone
        if message[0] == "stop":
            return
        if message[0] == "render":
            _render(engine, message[1], Path(message[2]), conn)


def _render(engine: Engine, spec: GenerationSpec, out_path: Path, conn: Connection) -> None:
    control = RunControl()
    outcome: list[tuple[Any, ...]] = []

    def run() -> None:
        try:
            rendered = render_to_file(engine, spec, out_path, control)
            outcome.append(("done", rendered.poster))
        except RenderCancelled as exc:
            outcome.append(("failed", "cancelled", str(exc)))
        except EngineError as exc:
            outcome.append(("failed", "engine", str(exc)))
        except Exception as exc:
            if _is_out_of_memory(exc):
                log.warning("out of memory: %s", exc)
                outcome.append(("failed", "engine", OOM_MESSAGE))
            else:
                log.exception("render failed")
                outcome.append(("failed", "internal", INTERNAL_MESSAGE))
        finally:
            _free_memory()

    thread = threading.Thread(target=run, name="render", daemon=True)
    thread.start()
    sent = -1
    while thread.is_alive():
        if conn.poll(0.1):
            try:
                message = conn.recv()
            except (EOFError, OSError):
                control.cancel("the worker is gone")
                thread.join()
                return
            if message[0] in ("cancel", "stop"):
                control.cancel("cancelled by the worker")
        if control.progress != sent:
            sent = control.progress
            conn.send(("progress", sent / 100))
    thread.join()
    conn.send(outcome[0])


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _free_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
