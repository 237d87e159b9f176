"""``GET /metrics`` for Prometheus, behind ``OPENDANCE_METRICS_TOKEN``.

Without a token it is open only when the server listens on loopback alone (the bind host,
``OPENDANCE_HOST`` / ``--host``): then only this machine can reach it, as on a laptop. Bound
to anything else (``0.0.0.0``, a LAN address) it would show anyone who reaches the port the
credits charged and granted and the fleet, and let them start table scans: it stays closed
until a token is set."""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from starlette.requests import Request
from starlette.responses import Response

from opendance import errors
from opendance.metrics.cache import FleetCache
from opendance.metrics.http import HttpMetrics
from opendance.metrics.scrape import scrape
from opendance.services.context import AppContext


async def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    token = ctx.settings.metrics_token
    if token is None and not listens_on_loopback_only(ctx.settings.host):
        raise errors.InvalidMetricsToken(
            f"GET /metrics is closed: this server listens on {ctx.settings.host}, beyond "
            "loopback, and has no OPENDANCE_METRICS_TOKEN; set one and scrape with "
            "'Authorization: Bearer <token>'"
        )
    if token is not None and not _bearer_matches(request.headers.get("authorization"), token):
        raise errors.InvalidMetricsToken()
    http: HttpMetrics = request.app.state.http_metrics
    cache: FleetCache = request.app.state.fleet_cache
    exposition = await scrape(ctx, http, request.headers.get("accept"), cache)
    return Response(exposition.body, media_type=exposition.content_type)


def listens_on_loopback_only(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only. A name other
    than localhost could resolve anywhere, so it counts as beyond loopback."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    # compare_digest on bytes: constant time in the token's content, whatever it holds
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )
