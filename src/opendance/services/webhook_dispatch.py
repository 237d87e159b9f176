"""Webhook delivery: the dispatcher that sends due outbox rows (written by ``services.tasks``
with a task's terminal transition), signed, retried, and recorded attempt by attempt.

A delivery failure never touches the task or its credits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timedelta

from opendance.db import deliveries as delivery_rows
from opendance.db.deliveries import DELIVERED, FAILED, PENDING, STOPPED, Delivery, Outcome
from opendance.db.types import utcnow
from opendance.domain.webhook_signing import parse_retry_schedule, signed_headers
from opendance.net.client import SafeHttpClient
from opendance.net.errors import AddressRejected, FetchFailed, UrlRejected
from opendance.services.context import AppContext
from opendance.services.webhook_secrets import account_secrets
from opendance.waits import first_of

log = logging.getLogger("opendance.client.webhooks")

# Receivers' answers are not needed beyond their status; a few KB is plenty for diagnostics.
MAX_RESPONSE_BYTES = 4096
# A claim outlives one attempt (the timeout) with room to record it; if its dispatcher dies,
# another one may take the delivery over this long afterwards.
CLAIM_MARGIN_SECONDS = 15.0


class Dispatcher:
    """Sends due deliveries. Any number may run at once (in every worker process): a claim with
    a fencing token gives each attempt to exactly one of them."""

    def __init__(self, ctx: AppContext, *, owner: str, batch: int = 16) -> None:
        self.ctx = ctx
        self.owner = owner
        self.batch = batch
        self.client = SafeHttpClient(ctx.policy, ctx.resolver)
        self.schedule = parse_retry_schedule(ctx.settings.webhook_retry_schedule)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A delivery was just enqueued in this process: look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_seconds: float = 0.5) -> None:
        """Dispatch until ``stop``; between rounds, wait for ``wake()`` or the poll interval
        (deliveries enqueued by other processes are found by polling)."""
        while not stop.is_set():
            self._wake.clear()
            try:
                sent = await self.dispatch_due()
            except Exception:
                log.exception("webhook dispatch round failed", extra={"worker_id": self.owner})
                sent = 0
            if not sent:
                await first_of(stop, self._wake, seconds=poll_seconds)

    async def dispatch_due(self) -> int:
        """One round: claim what is due and attempt each, concurrently. Returns the count."""
        async with self.ctx.db.write() as conn:
            claimed = await delivery_rows.claim_due(
                conn,
                owner=self.owner,
                limit=self.batch,
                claim_seconds=self.ctx.settings.webhook_timeout_seconds + CLAIM_MARGIN_SECONDS,
            )
        await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))
        return len(claimed)

    async def _attempt(self, delivery: Delivery) -> None:
        async with self.ctx.db.write() as conn:
            keys = await account_secrets(conn, delivery.account_id)
        started = utcnow()
        clock = time.monotonic()
        body = delivery.payload.encode()
        headers = signed_headers(
            keys.in_force(started), delivery.id, int(started.timestamp()), body
        )
        status_code: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            response = await self.client.request(
                "POST",
                delivery.url,
                headers=headers,
                content=body,
                timeout=self.ctx.settings.webhook_timeout_seconds,
                max_body_bytes=MAX_RESPONSE_BYTES,
                max_redirects=0,
                truncate_body=True,
                subject="callback_url",
            )
            status_code = response.status
            if status_code in (429, 503):
                retry_after = _retry_after(response.headers.get("retry-after"))
        except AddressRejected as exc:
            log.info("delivery %s refused: %s", delivery.id, exc, extra=self._fields(delivery))
            error = exc.public_message
        except (UrlRejected, FetchFailed) as exc:
            error = str(exc)
        duration_ms = round((time.monotonic() - clock) * 1000)
        outcome = self._outcome(delivery, started, duration_ms, status_code, error, retry_after)
        async with self.ctx.db.write() as conn:
            recorded = await delivery_rows.record(conn, delivery, outcome)
        fields: dict[str, object] = {
            **self._fields(delivery),
            "attempt": delivery.attempts + 1,
            "status_code": status_code,
            "delivery_status": outcome.status,  # the delivery's state after this attempt
            "duration_ms": duration_ms,
        }
        if outcome.error is not None:
            fields["error"] = outcome.error
        if not recorded:
            log.warning("delivery %s: claim lost; outcome not recorded", delivery.id, extra=fields)
            return
        log.info(
            "delivery %s attempt %d: %s; now %s",
            delivery.id,
            delivery.attempts + 1,
            outcome.error or f"HTTP {status_code}",
            outcome.status,
            extra=fields,
        )

    def _fields(self, delivery: Delivery) -> dict[str, str]:
        """The ids a log record about this delivery carries (fields of a JSON log line)."""
        return {"delivery_id": delivery.id, "task_id": delivery.task_id, "worker_id": self.owner}

    def _outcome(
        self,
        delivery: Delivery,
        started: datetime,
        duration_ms: int,
        status_code: int | None,
        error: str | None,
        retry_after: float | None,
    ) -> Outcome:
        if status_code is not None and 200 <= status_code < 300:
            status, next_at = DELIVERED, started
        elif status_code == 410:
            status, next_at = STOPPED, started  # the receiver asked us to stop
        else:
            if status_code is not None and error is None:
                error = f"HTTP {status_code}" + (
                    " (redirects are not followed)" if 300 <= status_code < 400 else ""
                )
            retry = delivery.attempts  # index of the wait before the next attempt
            if retry >= len(self.schedule):
                status, next_at = FAILED, started
            else:
                wait = self.schedule[retry] * random.uniform(0.9, 1.1)
                if retry_after is not None:
                    wait = max(wait, retry_after)
                status, next_at = PENDING, started + timedelta(seconds=wait)
        return Outcome(status, next_at, started, duration_ms, status_code, error)


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
