"""An engine for a model child process (``ProcessHost(create_engine=gated_engine)``) whose two
phases the test holds and releases through files, as the child is another process:

    gates/gen-<prompt>    exists: the generation of the task with this prompt may end
    gates/tail-<prompt>   exists: its frames may pass to the encoder
    gates/events.log      what happened, in order: ``gen-start``, ``gen-end``, ``tail-start``,
                          ``tail-end``, each with the prompt

Generation holds the child's one "device" (a lock): two generations at once would show as
overlapping ``gen-start``/``gen-end`` pairs. Both waits stay cancellable: they report progress,
which raises once the worker cancels the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EngineCapabilities, GenerationResult, ProgressCallback
from opendance.settings import Settings


class GatedEngine:
    name = "preview"
    capabilities = EngineCapabilities(audio=False, image_to_video=False)

    def __init__(self, gates: Path) -> None:
        self.gates = gates
        self.device = threading.Lock()
        self._log = threading.Lock()

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        with self.device:
            self._event("gen-start", spec.prompt)
            self._wait(f"gen-{spec.prompt}", lambda: on_progress(0.5))
            on_progress(1.0)
            frame = np.full((spec.height, spec.width, 3), 90, dtype=np.uint8)
            self._event("gen-end", spec.prompt)
        return GenerationResult(self._tail(spec, frame, on_progress), spec.frame_count, None)

    def _tail(
        self, spec: GenerationSpec, frame: npt.NDArray[np.uint8], on_progress: ProgressCallback
    ) -> Iterator[npt.NDArray[np.uint8]]:
        self._event("tail-start", spec.prompt)
        self._wait(f"tail-{spec.prompt}", lambda: on_progress(1.0))
        for index in range(spec.frame_count):
            moved = frame.copy()
            moved[:8, :8] = index % 256  # frames that differ, as a video's do
            yield moved
        self._event("tail-end", spec.prompt)

    def _wait(self, gate: str, still_wanted: Callable[[], None]) -> None:
        while not (self.gates / gate).exists():
            still_wanted()  # raises RenderCancelled once the job is cancelled
            time.sleep(0.02)

    def _event(self, what: str, prompt: str) -> None:
        with self._log, (self.gates / "events.log").open("a") as log:
            log.write(f"{what} {prompt}\n")


def gates_of(settings: Settings) -> Path:
    return settings.data_dir / "gates"


def gated_engine(settings: Settings) -> GatedEngine:
    """Module level, so the spawned child finds it by name."""
    gates = gates_of(settings)
    gates.mkdir(parents=True, exist_ok=True)
    return GatedEngine(gates)
