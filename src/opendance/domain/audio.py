"""A video's sound track as engines make it and the encoder takes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class AudioTrack:
    """PCM audio: float32 samples in [-1, 1], shape (channels, samples)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        return float(self.samples.shape[1]) / self.sample_rate
