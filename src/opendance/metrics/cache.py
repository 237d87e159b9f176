"""The fleet's figures, kept for a few seconds between scrapes.

Reading them scans whole tables (about 1.5 s at 500,000 tasks); several Prometheus servers,
a dashboard refreshing, or anyone holding the token and scraping in a loop would otherwise
run those scans back to back. Within ``seconds`` a scrape answers the figures already read,
and scrapes that arrive while a read is running wait for that one read instead of starting
their own. A failed read is not kept: the next scrape tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from opendance.db.fleet_figures import FleetFigures

Read = Callable[[], Awaitable[FleetFigures | None]]


class FleetCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._figures: FleetFigures | None = None
        self._read_at = 0.0
        self._reading: asyncio.Future[FleetFigures | None] | None = None

    async def get(self, read: Read) -> FleetFigures | None:
        if self._figures is not None and self._clock() - self._read_at < self.seconds:
            return self._figures
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._refresh(read))
        # shielded: a scraper that hangs up does not cancel the read the others wait for
        return await asyncio.shield(self._reading)

    async def _refresh(self, read: Read) -> FleetFigures | None:
        try:
            figures = await read()
            if figures is not None:
                self._figures, self._read_at = figures, self._clock()
            return figures
        finally:
            self._reading = None
