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
from typing import TYPE_CHECKING

from opendance.engines.base import EngineError
from opendance.errors import OpendanceError
from opendance.logs import configure_logging
from opendance.worker import messages as msg
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
        _send(conn, msg.LoadFailed(str(exc)))
        return
    except Exception as exc:
        log.exception("loading the engine failed")
        _send(conn, msg.LoadFailed(f"loading the engine failed: {type(exc).__name__}: {exc}"))
        return
    _send(conn, msg.Ready(time.monotonic() - started))
    while True:
        try:
            message: msg.ToChild = conn.recv()
        except (EOFError, OSError):
            return  # the worker is gone
        match message:
            case msg.Render(spec, out_path):
                _render(engine, spec, Path(out_path), conn)
            case msg.Stop():
                return
            case msg.Cancel():
                pass  # nothing is rendering: a cancel that crossed the render's end


def _send(conn: Connection, message: msg.FromChild) -> None:
    conn.send(message)


def _render(engine: Engine, spec: GenerationSpec, out_path: Path, conn: Connection) -> None:
    control = RunControl()
    outcome: list[msg.FromChild] = []

    def run() -> None:
        try:
            rendered = render_to_file(engine, spec, out_path, control)
            outcome.append(msg.Done(rendered.stills))
        except RenderCancelled as exc:
            outcome.append(msg.Failed("cancelled", str(exc)))
        except EngineError as exc:
            outcome.append(msg.Failed("engine", str(exc)))
        except Exception as exc:
            if _is_out_of_memory(exc):
                log.warning("out of memory: %s", exc)
                outcome.append(msg.Failed("engine", OOM_MESSAGE))
            else:
                log.exception("render failed")
                outcome.append(msg.Failed("internal", INTERNAL_MESSAGE))
        finally:
            _free_memory()

    thread = threading.Thread(target=run, name="render", daemon=True)
    thread.start()
    sent = -1
    while thread.is_alive():
        if conn.poll(0.1):
            try:
                message: msg.ToChild = conn.recv()
            except (EOFError, OSError):
                control.cancel("the worker is gone")
                thread.join()
                return
            match message:
                case msg.Cancel() | msg.Stop():
                    control.cancel("cancelled by the worker")
                case msg.Render():
                    log.error("a render was asked for while one is under way; ignored")
        if control.progress != sent:
            sent = control.progress
            _send(conn, msg.Progress(sent / 100))
    thread.join()
    _send(conn, outcome[0])


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
