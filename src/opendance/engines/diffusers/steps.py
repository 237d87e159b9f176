"""Denoising progress: diffusers' ``callback_on_step_end`` feeding the engine's progress.

The callback runs once per denoising step. It reports the fraction of steps done, scaled to
the part of the engine's work the denoising loop is (the VAE decode and the soundtrack follow),
and it is where a cancelled render stops: ``on_progress`` raises once the task is cancelled,
and the exception leaves the pipeline at the end of the current step. How often progress
reaches the database is up to the worker (its heartbeat), not to the step rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opendance.engines.base import ProgressCallback

StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


def step_reporter(
    on_progress: ProgressCallback, steps: int, *, start: float, end: float
) -> StepCallback:
    """A ``callback_on_step_end`` that maps step ``i`` of ``steps`` onto ``start..end``."""

    def callback(
        _pipe: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        on_progress(start + (end - start) * (step + 1) / max(1, steps))
        return callback_kwargs

    return callback
