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
from opendance.worker.messages import Cancel, Failed, FromChild, Progress

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


def _render(engine: Any, tmp_path: Path) -> list[FromChild]:
    parent, child = multiprocessing.Pipe()
    model_process._render(engine, SPEC, tmp_path / "out.mp4", child)
    messages = []
    while parent.poll(0.1):
        messages.append(parent.recv())
    return messages


def test_out_of_memory_becomes_a_clear_engine_failure(tmp_path: Path) -> None:
    class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError's name and message
        pass

    messages = _render(
        RaisingEngine(OutOfMemoryError("CUDA out of memory. Tried to allocate")), tmp_path
    )
    assert Progress(0.42) in messages  # half the engine part (0.85 of the task)
    assert messages[-1] == Failed("engine", model_process.OOM_MESSAGE)
    host_oom = _render(RaisingEngine(MemoryError()), tmp_path)
    assert host_oom[-1] == Failed("engine", model_process.OOM_MESSAGE)


def test_engine_errors_keep_their_message_and_others_are_internal(tmp_path: Path) -> None:
    clear = _render(RaisingEngine(EngineError("the prompt is empty after cleaning")), tmp_path)
    assert clear[-1] == Failed("engine", "the prompt is empty after cleaning")
    bug = _render(RaisingEngine(KeyError("/secret/path/config")), tmp_path)
    assert bug[-1] == Failed("internal", model_process.INTERNAL_MESSAGE)


def test_a_cancel_from_the_worker_stops_the_render(tmp_path: Path) -> None:
    parent, child = multiprocessing.Pipe()
    started = threading.Event()

    class SlowEngine(PreviewEngine):
        def generate(self, spec: GenerationSpec, on_progress: Any) -> GenerationResult:
            def report(fraction: float) -> None:
                started.set()
                on_progress(fraction)

            return super().generate(spec, report)

    runner = threading.Thread(
        target=model_process._render,
        args=(
            SlowEngine(),
            GenerationSpec(**{**SPEC.__dict__, "duration": 12}),
            tmp_path / "o.mp4",
            child,
        ),
    )
    runner.start()
    assert started.wait(30)
    parent.send(Cancel())
    runner.join(60)
    messages = []
    while parent.poll(0.1):
        messages.append(parent.recv())
    assert isinstance(messages[-1], Failed) and messages[-1].reason == "cancelled"
    assert all(isinstance(m, Progress) for m in messages[:-1])
