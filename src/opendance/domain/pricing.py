"""The fixed price table, in credits (1 credit = $0.005)."""

from __future__ import annotations

from typing import Final

# (resolution, duration seconds, with audio) -> credits
PRICES: Final[dict[tuple[str, int, bool], int]] = {
    ("480p", 4, False): 8,
    ("480p", 8, False): 14,
    ("480p", 12, False): 19,
    ("480p", 4, True): 14,
    ("480p", 8, True): 28,
    ("480p", 12, True): 38,
    ("720p", 4, False): 14,
    ("720p", 8, False): 28,
    ("720p", 12, False): 42,
    ("720p", 4, True): 28,
    ("720p", 8, True): 56,
    ("720p", 12, True): 84,
}

USD_PER_CREDIT: Final = 0.005


def price(resolution: str, duration_seconds: int, generate_audio: bool) -> int:
    """Credits charged for one task with these options."""
    return PRICES[(resolution, duration_seconds, generate_audio)]
