"""The engine protocol: turn a ``GenerationSpec`` into frames (and optionally audio).

``AudioTrack``, ``EngineCapabilities`` and ``FleetOffer`` are domain values, named here too
because every engine uses them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opendance.domain.audio import AudioTrack
from opendance.domain.capabilities import EngineCapabilities, FleetOffer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

ProgressCallback = Callable[[float], None]
"""Called with the fraction of the work done, 0.0 to 1.0; may be called from any thread."""


@dataclass(frozen=True)
class GenerationResult:
    """Frames are RGB uint8 arrays of shape (height, width, 3), exactly ``frame_count`` of them.

    ``frames`` may be a lazy iterable (a generator): the encoder consumes it once, so an engine
    can render while the encoder encodes and never hold the whole video in memory.
    """

    frames: Iterable[npt.NDArray[np.uint8]]
    frame_count: int
    audio: AudioTrack | None


@dataclass(frozen=True)
class EncodedVideo:
    """A finished MP4 the engine already has (e.g. fetched from an upstream service).

    The worker publishes it as is, after the same geometry check every video passes; an engine
    returns this only when the file already matches the spec, and frames otherwise.
    """

    path: Path


class Engine(Protocol):
    """A video generator. ``generate`` runs off the event loop (a worker thread or process)."""

    name: str
    capabilities: EngineCapabilities

    def generate(
        self, spec: GenerationSpec, on_progress: ProgressCallback
    ) -> GenerationResult | EncodedVideo:
        """Make the video described by ``spec``; call ``on_progress`` as work advances."""
        ...


class EngineError(Exception):
    """The engine could not make this video; the message is shown to the client."""


__all__ = [
    "AudioTrack",
    "EncodedVideo",
    "Engine",
    "EngineCapabilities",
    "EngineError",
    "FleetOffer",
    "GenerationResult",
    "ProgressCallback",
]
