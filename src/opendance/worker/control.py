"""The thread-safe link between the worker's event loop and the render thread."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RenderCancelled(Exception):
    """The render was stopped: the lease was lost or the worker is shutting down."""


class RunControl:
    """Progress flows from the render thread to the heartbeat; cancellation flows back; and
    the end of the render's device phase (its frames are generated, the tail remains) is
    announced to whoever waits for the device."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress = 0
        self._cancelled = threading.Event()
        self.cancel_reason = ""
        self._on_generated: list[Callable[[], None]] = []
        self._generated = False

    @property
    def progress(self) -> int:
        with self._lock:
            return self._progress

    def report(self, fraction: float) -> None:
        """Record progress (0..1); raises ``RenderCancelled`` once cancelled, so the engine
        and the encoder stop at their next step."""
        if self._cancelled.is_set():
            raise RenderCancelled(self.cancel_reason)
        percent = max(0, min(99, int(fraction * 100)))
        with self._lock:
            self._progress = max(self._progress, percent)

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def when_generated(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the render's thread) once the device phase is over."""
        with self._lock:
            done = self._generated
            if not done:
                self._on_generated.append(callback)
        if done:
            callback()

    def generated(self) -> None:
        """The frames are made (or the render ended): the device may take the next job.
        Idempotent; the callbacks run in the order they were registered."""
        with self._lock:
            if self._generated:
                return
            self._generated = True
            callbacks, self._on_generated = self._on_generated, []
        for callback in callbacks:
            callback()
