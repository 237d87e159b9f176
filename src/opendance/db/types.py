"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, func
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, aware UTC datetimes out.

    SQLite has no time zones and hands back naive values; storing naive UTC and re-attaching
    UTC on the way out keeps comparisons in SQL (lease expiry) correct on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


Now = datetime | ColumnElement[datetime]


def db_now(conn: AsyncConnection) -> Now:
    """The clock that leases are measured by. On PostgreSQL the database's own (``now()``, the
    transaction's start): workers and reapers on many machines then agree on when a lease ran
    out, whatever their clocks say. SQLite lives on one machine, whose clock is the same."""
    if conn.dialect.name == "postgresql":
        return func.now()
    return utcnow()
