"""What the API accepts: what the fleet of workers can serve, not what this process runs.

In a mixed fleet (LTX-2 workers with audio and image-to-video, Wan workers without audio,
preview workers) a request is accepted when some one worker seen recently can serve it whole:
the kinds of worker in the workers table (loading workers included: they will serve once their
model is up). Sound from one worker and image-to-video from another do not add up to a task
that needs both. Before any worker has reported (a fresh ``opendance serve``, an API started
before its fleet), the API goes by the engine in its own settings, as a single-engine
deployment always has.

Submit is a hot path, so the answer is cached for a few seconds per process and refreshed by
one request at a time; the others keep using the previous answer meanwhile. A worker that
joins or leaves is therefore noticed within ``FLEET_CACHE_SECONDS`` (plus, for one that left,
``OPENDANCE_WORKER_SEEN_SECONDS``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from opendance.db import workers as worker_rows
from opendance.db.database import Database
from opendance.domain.capabilities import EngineCapabilities, FleetOffer

FLEET_CACHE_SECONDS = 5.0


class FleetCapabilities:
    def __init__(
        self,
        db: Database,
        *,
        fallback: EngineCapabilities,
        seen_within: float,
        cache_seconds: float = FLEET_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.fallback = fallback
        self.seen_within = seen_within
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._known: FleetOffer | None = None
        self._expires_at = -math.inf
        self._refreshing = False

    async def current(self) -> FleetOffer:
        """The kinds of worker seen recently, or the fallback engine alone."""
        known = self._known
        if known is not None and (self._clock() < self._expires_at or self._refreshing):
            return known
        self._refreshing = True
        try:
            async with self.db.read() as conn:
                seen = await worker_rows.fleet_capabilities(conn, seen_within=self.seen_within)
        finally:
            self._refreshing = False
        self._known = seen if seen is not None else FleetOffer.of(self.fallback)
        self._expires_at = self._clock() + self.cache_seconds
        return self._known

    def forget(self) -> None:
        """Ask the database again on the next call (e.g. after registering a worker)."""
        self._expires_at = -math.inf
