"""Fleet-wide figures for ``GET /metrics``, read from the database at scrape time.

Workers have no HTTP port and API replicas share nothing but the database, so the figures of
the whole fleet are aggregates over its tables: every replica answers the same. Each figure is
one aggregate query (a scan of ``tasks`` and ``ledger``, the others are small or indexed).

The cumulative figures (durations, webhook attempts, credits) stay monotonic because their
rows are append-only or frozen: tasks are never deleted and a terminal task never changes
state again (``domain.task_states`` has no move out of a terminal state), ledger rows and
webhook attempts are only ever inserted (tests/metrics/test_fleet_sources.py checks the code
for deletes of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Float, case, cast, extract, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from opendance.db.deliveries import DELIVERED, FAILED, PENDING, STOPPED
from opendance.db.tables import ledger, tasks, webhook_attempts, webhook_deliveries, workers
from opendance.db.types import db_now, utcnow
from opendance.domain.task_states import TERMINAL, TaskState

# Seconds. A preview video takes seconds, a model's minutes, a queue backlog hours.
TASK_DURATION_BUCKETS: Final = (
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
)
TERMINAL_STATES: Final = tuple(sorted(state.value for state in TERMINAL))
# What one webhook attempt came to: a 2xx, another HTTP answer, or no answer at all.
ATTEMPT_OUTCOMES: Final = ("delivered", "rejected", "unreachable")


@dataclass
class DurationHistogram:
    """How many durations were at most each of ``TASK_DURATION_BUCKETS`` (cumulative, as
    Prometheus buckets are), how many there were in all, and their sum in seconds."""

    at_most: list[int]
    count: int
    total: float


@dataclass
class FleetFigures:
    tasks_by_state: dict[str, int]
    oldest_queued_age_seconds: float
    # (engine, terminal state) -> submit to finish
    task_durations: dict[tuple[str, str], DurationHistogram]
    # engine -> the successful attempt's run: claimed by a worker to completed
    run_durations: dict[str, DurationHistogram]
    webhook_attempts: dict[str, int]
    webhook_deliveries: dict[str, int]
    credits: dict[str, int]  # ledger kind -> credits moved (as a positive number)
    workers: dict[tuple[str, str], int]  # (state, engine) -> live workers


async def read_fleet(conn: AsyncConnection, *, worker_seen_seconds: float) -> FleetFigures:
    task_durations, run_durations = await _durations(conn)
    return FleetFigures(
        tasks_by_state=await _tasks_by_state(conn),
        oldest_queued_age_seconds=await _oldest_queued_age(conn),
        task_durations=task_durations,
        run_durations=run_durations,
        webhook_attempts=await _webhook_attempts(conn),
        webhook_deliveries=await _webhook_deliveries(conn),
        credits=await _credits(conn),
        workers=await _workers(conn, seen_within=worker_seen_seconds),
    )


async def _tasks_by_state(conn: AsyncConnection) -> dict[str, int]:
    counts = {state.value: 0 for state in TaskState}
    rows = await conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
    for status, count in rows:
        counts[status] = int(count)
    return counts


async def _oldest_queued_age(conn: AsyncConnection) -> float:
    # the (status, created_at) index answers this without a scan
    oldest = select(func.min(tasks.c.created_at)).where(tasks.c.status == TaskState.QUEUED.value)
    if conn.dialect.name == "postgresql":
        age = select(_seconds(func.now(), oldest.scalar_subquery(), conn))
        value = (await conn.execute(age)).scalar_one()
        return max(0.0, float(value)) if value is not None else 0.0
    created: datetime | None = (await conn.execute(oldest)).scalar_one()
    if created is None:
        return 0.0
    return max(0.0, (utcnow() - created).total_seconds())


async def _durations(
    conn: AsyncConnection,
) -> tuple[dict[tuple[str, str], DurationHistogram], dict[str, DurationHistogram]]:
    """One scan of the terminal tasks for both histograms."""
    total = _seconds(tasks.c.finished_at, tasks.c.created_at, conn).label("total")
    run = _seconds(tasks.c.finished_at, tasks.c.started_at, conn).label("run")
    finished = (
        select(tasks.c.engine, tasks.c.status, total, run)
        .where(tasks.c.status.in_(TERMINAL_STATES))
        # OFFSET 0 keeps both databases from inlining this subquery into the sums below,
        # which would compute each duration once per bucket (two to three times slower)
        .offset(0)
        .subquery()
    )
    columns: list[ColumnElement[Any]] = [
        finished.c.engine,
        finished.c.status,
        func.count(),
        func.coalesce(func.sum(finished.c.total), 0.0),
        func.count(finished.c.run),
        func.coalesce(func.sum(finished.c.run), 0.0),
    ]
    columns += [_count_at_most(finished.c.total, bound) for bound in TASK_DURATION_BUCKETS]
    columns += [_count_at_most(finished.c.run, bound) for bound in TASK_DURATION_BUCKETS]
    rows = await conn.execute(select(*columns).group_by(finished.c.engine, finished.c.status))
    task_durations: dict[tuple[str, str], DurationHistogram] = {}
    run_durations: dict[str, DurationHistogram] = {}
    n = len(TASK_DURATION_BUCKETS)
    for row in rows:
        engine, status, count, total_sum, run_count, run_sum = row[:6]
        task_durations[(engine, status)] = DurationHistogram(
            [int(v) for v in row[6 : 6 + n]], int(count), float(total_sum)
        )
        if status == TaskState.SUCCEEDED.value:
            run_durations[engine] = DurationHistogram(
                [int(v) for v in row[6 + n : 6 + 2 * n]], int(run_count), float(run_sum)
            )
    return task_durations, run_durations


async def _webhook_attempts(conn: AsyncConnection) -> dict[str, int]:
    code = webhook_attempts.c.status_code
    outcome = case(
        (code.is_(None), literal("unreachable")),
        ((code >= 200) & (code < 300), literal("delivered")),
        else_=literal("rejected"),
    ).label("outcome")
    counts = dict.fromkeys(ATTEMPT_OUTCOMES, 0)
    inner = select(outcome).subquery()
    rows = await conn.execute(select(inner.c.outcome, func.count()).group_by(inner.c.outcome))
    for name, count in rows:
        counts[name] = int(count)
    return counts


async def _webhook_deliveries(conn: AsyncConnection) -> dict[str, int]:
    counts = dict.fromkeys((PENDING, DELIVERED, FAILED, STOPPED), 0)
    rows = await conn.execute(
        select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
    )
    for status, count in rows:
        counts[status] = int(count)
    return counts


async def _credits(conn: AsyncConnection) -> dict[str, int]:
    """Credits moved per ledger kind, as positive numbers (a charge's amount is negative)."""
    counts = {"charge": 0, "refund": 0, "grant": 0}
    rows = await conn.execute(
        select(ledger.c.kind, func.sum(ledger.c.amount))
        .where(ledger.c.kind.in_(list(counts)))
        .group_by(ledger.c.kind)
    )
    for kind, amount in rows:
        counts[kind] = abs(int(amount or 0))
    return counts


async def _workers(conn: AsyncConnection, *, seen_within: float) -> dict[tuple[str, str], int]:
    """Workers that reported within ``seen_within`` (as /readyz counts them), by state."""
    since = db_now(conn) - timedelta(seconds=seen_within)
    rows = await conn.execute(
        select(workers.c.state, workers.c.engine, func.count())
        .where(workers.c.last_seen_at >= since)
        .group_by(workers.c.state, workers.c.engine)
    )
    return {(state, engine): int(count) for state, engine, count in rows}


def _seconds(
    later: ColumnElement[Any], earlier: ColumnElement[Any], conn: AsyncConnection
) -> ColumnElement[float]:
    """``later - earlier`` in seconds, computed by the database."""
    if conn.dialect.name == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    # SQLite keeps UTC datetimes as ISO text; julianday() reads it (in days, to ~10 µs)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _count_at_most(value: ColumnElement[Any], bound: float) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((value <= bound, 1), else_=0)), 0)
