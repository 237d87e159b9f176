"""One scrape: the fleet's figures from the database, this process's HTTP figures, encoded.

A database failure (or a database slower than ``FLEET_READ_TIMEOUT_SECONDS``) does not fail the
scrape: the answer is still 200 with this process's own figures and ``opendance_scrape_error 1``,
so the target stays up, the per-process figures keep flowing, and an alert can watch the
error gauge. The fleet's series are then absent from that one scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from opendance.db.fleet_figures import FleetFigures, read_fleet
from opendance.metrics.cache import FleetCache
from opendance.metrics.fleet_families import fleet_families
from opendance.metrics.http import HttpMetrics
from opendance.services.context import AppContext

log = logging.getLogger("opendance.metrics")

# Below Prometheus's default scrape timeout (10 s): a hung database still gets an answer.
FLEET_READ_TIMEOUT_SECONDS: Final = 5.0


@dataclass
class Exposition:
    body: bytes
    content_type: str


@dataclass
class _Scrape(Collector):
    http: HttpMetrics
    fleet: FleetFigures | None
    seconds: float

    def collect(self) -> Iterable[Metric]:
        return self._families()

    def _families(self) -> Iterator[Metric]:
        if self.fleet is not None:
            yield from fleet_families(self.fleet)
        yield from self.http.collect()
        yield GaugeMetricFamily(
            "opendance_scrape_error",
            "1 when this scrape could not read the fleet's figures from the database.",
            value=0 if self.fleet is not None else 1,
        )
        yield GaugeMetricFamily(
            "opendance_scrape_duration_seconds",
            "Time this scrape spent reading the fleet's figures from the database "
            "(about 0 when they came from the cache).",
            value=self.seconds,
        )


async def scrape(
    ctx: AppContext, http: HttpMetrics, accept: str | None, cache: FleetCache | None = None
) -> Exposition:
    """Everything ``GET /metrics`` shows, in the format the scraper asked for (``Accept``);
    the fleet's figures from ``cache`` while it holds them."""
    started = time.perf_counter()
    fleet = await (cache.get(lambda: _read_fleet(ctx)) if cache else _read_fleet(ctx))
    collector = _Scrape(http, fleet, time.perf_counter() - started)
    encode, content_type = choose_encoder(accept or "")
    return Exposition(encode(collector), content_type)


async def _read_fleet(ctx: AppContext) -> FleetFigures | None:
    try:
        async with asyncio.timeout(FLEET_READ_TIMEOUT_SECONDS), ctx.db.read() as conn:
            return await read_fleet(conn, worker_seen_seconds=ctx.settings.worker_seen_seconds)
    except Exception as exc:
        log.warning(
            "metrics: the fleet's figures could not be read from the database: %s",
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            extra={"error": type(exc).__name__},
        )
        return None
