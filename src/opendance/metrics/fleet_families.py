"""The fleet's figures (``db.fleet_figures``) as Prometheus metric families."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from opendance.db.fleet_figures import TASK_DURATION_BUCKETS, DurationHistogram, FleetFigures

_BOUNDS = [repr(float(bound)) for bound in TASK_DURATION_BUCKETS]


def fleet_families(figures: FleetFigures) -> Iterator[Metric]:
    tasks = GaugeMetricFamily(
        "opendance_tasks", "Tasks in the database, by state.", labels=["state"]
    )
    for state, count in figures.tasks_by_state.items():
        tasks.add_metric([state], count)
    yield tasks
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
    for outcome, count in figures.webhook_attempts.items():
        attempts.add_metric([outcome], count)
    yield attempts
    deliveries = GaugeMetricFamily(
        "opendance_webhook_deliveries",
        "Webhook deliveries (one per finished task with a callback_url) by status.",
        labels=["status"],
    )
    for status, count in figures.webhook_deliveries.items():
        deliveries.add_metric([status], count)
    yield deliveries

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
    for (state, engine), count in sorted(figures.workers.items()):
        live.add_metric([state, engine], count)
    yield live


def _buckets(histogram: DurationHistogram) -> list[tuple[str, float]]:
    return [*zip(_BOUNDS, histogram.at_most, strict=True), ("+Inf", histogram.count)]
