"""The child side of a ProcessHost, driven over a real pipe: what the worker receives when the
engine raises out-of-memory, a model error, or is cancelled, and that it keeps serving."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EngineCapabilities, EngineError, GenerationResult
from opendance.engines.preview import PreviewEngine
from opendance.worker import model_process
from opendance.worker.messages import (
    Cancel,
    Done,
    Failed,
    FromChild,
    Generated,
    Progress,
    Render,
    Stop,
)

SPEC = GenerationSpec(
    prompt="p", aspect_ratio="1:1", resolution="480p", duration=4,
    generate_audio=False, fixed_lens=False, seed=1,
)  # fmt: skip


class RaisingEngine:
    """Raises what a diffusers pipeline raises, after reporting some progress."""

    name = "raising"
    capabilities = EngineCapabilities(audio=False, image_to_video=False)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def generate(self, spec: GenerationSpec, on_progress: Any) -> GenerationResult:
        on_progress(0.5)
        raise self.error


class _Served:
    """An engine process's loop over a real pipe, in a thread of the test."""

    def __init__(self, engine: Any) -> None:
        self.pipe, child = multiprocessing.Pipe()
        process = model_process.EngineProcess(engine, child, pipeline=True)
        self.thread = threading.Thread(target=process.serve, daemon=True)
        self.thread.start()

    def until_done(self, job: int) -> list[FromChild]:
        """The messages about ``job``, up to its last (Done or Failed)."""
        messages: list[FromChild] = []
        while True:
            assert self.pipe.poll(60), messages
            message = self.pipe.recv()
            if getattr(message, "job", None) == job:
                messages.append(message)
                if isinstance(message, Done | Failed):
                    return messages

    def stop(self) -> None:
        self.pipe.send(Stop())
        self.thread.join(10)


def _render(engine: Any, tmp_path: Path) -> list[FromChild]:
    served = _Served(engine)
    try:
        served.pipe.send(Render(1, SPEC, str(tmp_path / "out.mp4")))
        return served.until_done(1)
    finally:
        served.stop()


def test_out_of_memory_becomes_a_clear_engine_failure(tmp_path: Path) -> None:
    class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError's name and message
        pass

    messages = _render(
        RaisingEngine(OutOfMemoryError("CUDA out of memory. Tried to allocate")), tmp_path
    )
    assert Progress(1, 0.42) in messages  # half the engine part (0.85 of the task)
    assert messages[-1] == Failed(1, "engine", model_process.OOM_MESSAGE)
    host_oom = _render(RaisingEngine(MemoryError()), tmp_path)
    assert host_oom[-1] == Failed(1, "engine", model_process.OOM_MESSAGE)


def test_engine_errors_keep_their_message_and_others_are_internal(tmp_path: Path) -> None:
    clear = _render(RaisingEngine(EngineError("the prompt is empty after cleaning")), tmp_path)
    assert clear[-1] == Failed(1, "engine", "the prompt is empty after cleaning")
    bug = _render(RaisingEngine(KeyError("/secret/path/config")), tmp_path)
    assert bug[-1] == Failed(1, "internal", model_process.INTERNAL_MESSAGE)


def test_a_cancel_from_the_worker_stops_the_render(tmp_path: Path) -> None:
    started = threading.Event()

    class SlowEngine(PreviewEngine):
        def generate(self, spec: GenerationSpec, on_progress: Any) -> GenerationResult:
            def report(fraction: float) -> None:
                started.set()
                on_progress(fraction)

            return super().generate(spec, report)

    served = _Served(SlowEngine())
    try:
        long_spec = GenerationSpec(**{**SPEC.__dict__, "duration": 12})
        served.pipe.send(Render(7, long_spec, str(tmp_path / "o.mp4")))
        assert started.wait(30)
        served.pipe.send(Cancel(7))
        messages = served.until_done(7)
    finally:
        served.stop()
    assert isinstance(messages[-1], Failed) and messages[-1].reason == "cancelled"
    assert all(isinstance(m, Progress | Generated) for m in messages[:-1])
