"""Size limits of the contract and how to say them to a client."""

from __future__ import annotations

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Input images may be at most 20 MB, fetched or inline (api-contract, "Fetching user URLs")."""

_MB = 1024 * 1024


def format_size(size: int) -> str:
    """``20 MB`` for whole megabytes, else the exact byte count (limits are usually round)."""
    if size >= _MB and size % _MB == 0:
        return f"{size // _MB} MB"
    return f"{size} bytes"
