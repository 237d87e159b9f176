"""Who is asking: the owner of an API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class KeyOwner:
    """Who an API key belongs to, as seen by authentication."""

    key_id: str
    account_id: str
    last_used_at: datetime | None
    expires_at: datetime | None = None  # a playground key's: the end of its session
