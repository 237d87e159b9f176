"""The one source of randomness: every draw in the preview engine comes from ``spec_rng``."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec


def spec_rng(spec: GenerationSpec, purpose: str) -> np.random.Generator:
    """Seeded from (purpose, seed, prompt) only: the same spec draws the same numbers.

    ``purpose`` keeps the streams apart, so the picture and the music do not shift each other
    when one of them draws a number more or less.
    """
    digest = hashlib.sha256(f"{purpose}\x00{spec.seed}\x00{spec.prompt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
