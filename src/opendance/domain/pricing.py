"""The fixed price table, in credits (1 credit = $0.005)."""

from __future__ import annotations

from typing import Final

from opendance.domain.presets import DURATIONS

# (resolution, with audio) -> credits for each of DURATIONS
_PRICE_ROWS: Final[dict[tuple[str, bool], tuple[int, int, int]]] = {
    ("480p", False): (8, 14, 19),
    ("480p", True): (14, 28, 38),
    ("720p", False): (14, 28, 42),
    ("720p", True): (28, 56, 84),
}

# (resolution, duration seconds, with audio) -> credits
PRICES: Final[dict[tuple[str, int, bool], int]] = {
    (resolution, duration, audio): credits
    for (resolution, audio), row in _PRICE_ROWS.items()
    for duration, credits in zip(DURATIONS, row, strict=True)
}

USD_PER_CREDIT: Final = 0.005


def price(resolution: str, duration_seconds: int, generate_audio: bool) -> int:
    """Credits charged for one task with these options."""
    return PRICES[(resolution, duration_seconds, generate_audio)]
