"""``GET /metrics`` for Prometheus: open, or behind ``OPENDANCE_METRICS_TOKEN``."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from opendance import errors
from opendance.metrics.http import HttpMetrics
from opendance.metrics.scrape import scrape
from opendance.services.context import AppContext


async def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    token = ctx.settings.metrics_token
    if token is not None and not _bearer_matches(request.headers.get("authorization"), token):
        raise errors.InvalidMetricsToken()
    http: HttpMetrics = request.app.state.http_metrics
    exposition = await scrape(ctx, http, request.headers.get("accept"))
    return Response(exposition.body, media_type=exposition.content_type)


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    # compare_digest on bytes: constant time in the token's content, whatever it holds
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )
