"""Per-process HTTP figures: requests by route template, method and status, and their latency.

``observe`` runs once per request on the hot path (the status poll), so it does no more than a
dict lookup, a bisect and a few integer additions: no locks (the event loop's thread is the
only writer, and the scrape reads on the same loop), no label strings built per request (a
route's template is looked up once, when the route is first seen).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.routing import BaseRoute
from starlette.types import Scope

# Seconds; the API answers in milliseconds, uploads and slow clients take seconds.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Any other method (clients may send anything) is counted as "other": label values stay few.
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE: Final = "unmatched"


class _Series:
    """The figures of one route and method."""

    __slots__ = ("buckets", "method", "route", "statuses", "total")

    def __init__(self, route: str, method: str) -> None:
        self.route = route
        self.method = method
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; last: +Inf
        self.total = 0.0


class HttpMetrics:
    """The requests this process served, for ``opendance_http_*``."""

    def __init__(self) -> None:
        # keyed by the matched route object's id: Starlette routes are not hashable, and they
        # live as long as the app
        self._series: dict[tuple[int, str], _Series] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        method: str = scope["method"]
        if method not in KNOWN_METHODS:
            method = "other"
        key = (id(route), method)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(route_template(route), method)
        series.statuses[status] = series.statuses.get(status, 0) + 1
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series.total += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "opendance_http_requests",
            "HTTP requests this API process answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        latency = HistogramMetricFamily(
            "opendance_http_request_duration_seconds",
            "Time this API process took to answer, by route template and method.",
            labels=["route", "method"],
        )
        for series in list(self._series.values()):
            for status, count in sorted(series.statuses.items()):
                requests.add_metric([series.route, series.method, str(status)], count)
            latency.add_metric(
                [series.route, series.method],
                _cumulative(series.buckets),
                series.total,
            )
        yield requests
        yield latency


def route_template(route: Any) -> str:
    """``/files/{key}`` for the route of ``/files/videos/x.mp4``: a label that names the route,
    never a client's path (which would make one series per URL)."""
    if not isinstance(route, BaseRoute):
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _cumulative(per_bucket: list[int]) -> list[tuple[str, float]]:
    bounds = [*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
    out: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(bounds, per_bucket, strict=True):
        running += count
        out.append((bound, running))
    return out
