"""The fleet's figures (``db.fleet_figures``) as Prometheus metric families."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from opendance.db.fleet_figures import TASK_DURATION_BUCKETS, DurationHistogram, FleetFigures

_F = TypeVar("_F", GaugeMetricFamily, CounterMetricFamily)

_BOUNDS = [repr(float(bound)) for bound in TASK_DURATION_BUCKETS]


def fleet_families(figures: FleetFigures) -> Iterator[Metric]:
    yield _counted(
        GaugeMetricFamily("opendance_tasks", "Tasks in the database, by state.", labels=["state"]),
        figures.tasks_by_state.items(),
    )
    yield GaugeMetricFamily(
        "opendance_queue_oldest_task_age_seconds",
        "How long the oldest queued task has waited for a worker (0: the queue is empty).",
        value=figures.oldest_queued_age_seconds,
    )

    durations = HistogramMetricFamily(
        "opendance_task_duration_seconds",
        "Submit to finish of every finished task, by engine and final state.",
        labels=["engine", "state"],
    )
    for (engine, state), histogram in sorted(figures.task_durations.items()):
        durations.add_metric([engine, state], _buckets(histogram), histogram.total)
    yield durations
    runs = HistogramMetricFamily(
        "opendance_task_run_seconds",
        "Worker time of every successful task (its last claim to completion: engine, "
        "encoding, storing), by engine.",
        labels=["engine"],
    )
    for engine, histogram in sorted(figures.run_durations.items()):
        runs.add_metric([engine], _buckets(histogram), histogram.total)
    yield runs

    attempts = CounterMetricFamily(
        "opendance_webhook_attempts",
        "Webhook attempts by outcome: delivered (2xx), rejected (another HTTP status), "
        "unreachable (no HTTP answer).",
        labels=["outcome"],
    )
    yield _counted(attempts, figures.webhook_attempts.items())
    deliveries = GaugeMetricFamily(
        "opendance_webhook_deliveries",
        "Webhook deliveries (one per finished task with a callback_url) by status.",
        labels=["status"],
    )
    yield _counted(deliveries, figures.webhook_deliveries.items())

    yield CounterMetricFamily(
        "opendance_credits_charged",
        "Credits charged for submitted tasks.",
        value=figures.credits["charge"],
    )
    yield CounterMetricFamily(
        "opendance_credits_refunded",
        "Credits refunded for failed tasks.",
        value=figures.credits["refund"],
    )
    yield CounterMetricFamily(
        "opendance_credits_granted",
        "Credits granted to accounts by operators.",
        value=figures.credits["grant"],
    )

    live = GaugeMetricFamily(
        "opendance_workers",
        "Workers that reported recently (OPENDANCE_WORKER_SEEN_SECONDS), by state and engine.",
        labels=["state", "engine"],
    )
    yield _counted(live, sorted(figures.workers.items()))


def _counted(family: _F, counts: Iterable[tuple[str | tuple[str, ...], int]]) -> _F:
    """``family`` with a sample a count: its label value, or its tuple of label values."""
    for labels, count in counts:
        family.add_metric([labels] if isinstance(labels, str) else list(labels), count)
    return family


def _buckets(histogram: DurationHistogram) -> list[tuple[str, float]]:
    return [*zip(_BOUNDS, histogram.at_most, strict=True), ("+Inf", histogram.count)]
