"""The engine protocol: turn a ``GenerationSpec`` into frames (and optionally audio)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

ProgressCallback = Callable[[float], None]
"""Called with the fraction of the work done, 0.0 to 1.0; may be called from any thread."""


@dataclass(frozen=True)
class AudioTrack:
    """PCM audio: float32 samples in [-1, 1], shape (channels, samples)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        return float(self.samples.shape[1]) / self.sample_rate


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


@dataclass(frozen=True)
class EngineCapabilities:
    audio: bool
    image_to_video: bool

    def serves(self, *, audio: bool, image: bool) -> bool:
        """Whether a task that needs sound (``audio``) and/or an input image can run here."""
        return (self.audio or not audio) and (self.image_to_video or not image)


@dataclass(frozen=True)
class FleetOffer:
    """What a fleet of workers can serve: the kinds of worker in it. A task runs on one worker,
    so a task that needs sound and an input image needs a worker that does both; one worker
    with sound and another with image-to-video are not enough."""

    kinds: frozenset[EngineCapabilities]

    @classmethod
    def of(cls, *kinds: EngineCapabilities) -> FleetOffer:
        return cls(frozenset(kinds))

    @property
    def audio(self) -> bool:
        return any(kind.audio for kind in self.kinds)

    @property
    def image_to_video(self) -> bool:
        return any(kind.image_to_video for kind in self.kinds)

    def serves(self, *, audio: bool, image: bool) -> bool:
        return any(kind.serves(audio=audio, image=image) for kind in self.kinds)


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
