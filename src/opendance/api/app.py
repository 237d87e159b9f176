"""The ASGI application factory.

The API is a plain Starlette application. Handlers parse requests themselves because the
contract fixes the order of checks and the error code of each field, so FastAPI's validation,
dependency injection and generated schema would have nothing to do; its per-request layers
(telemetry, body limit, exit stack) measurably cost status-poll throughput (bench/bench_api.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from opendance import errors
from opendance.api.body_deadline import BodyDeadlineMiddleware
from opendance.api.error_shapes import error_response
from opendance.api.large_bodies import LargeBodyGate
from opendance.api.middleware import RequestContextMiddleware
from opendance.api.openapi import document_bytes
from opendance.api.ratelimit import ApiRateLimits
from opendance.api.routes import routes
from opendance.metrics.cache import FleetCache
from opendance.metrics.http import HttpMetrics
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.web.routes import web_routes
from opendance.web.signin_limiter import SignInLimiter


def create_app(ctx: AppContext) -> Starlette:
    """An app over an open ``AppContext`` (the caller owns and closes it)."""
    http_metrics = HttpMetrics()
    document_bytes()  # GET /openapi.json: built here (3 ms), never on a request
    app = Starlette(
        # the API's routes first: the hot paths match before any page does
        routes=[*routes(), *web_routes()],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                metrics=http_metrics,
                headers=_security_headers(ctx.settings),
            ),
            Middleware(LargeBodyGate, slots=ctx.settings.large_bodies_in_flight),
            Middleware(BodyDeadlineMiddleware, seconds=ctx.settings.body_timeout_seconds),
        ],
        exception_handlers={errors.ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.ctx = ctx
    app.state.http_metrics = http_metrics
    app.state.fleet_cache = FleetCache(ctx.settings.metrics_cache_seconds)
    app.state.rate_limiter = ApiRateLimits(ctx.settings)
    app.state.signin_limiter = SignInLimiter(ctx.settings.signin_attempts_per_15_minutes)
    return app


def _security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Headers for every answer. HSTS when clients reach the server over https (the public
    URL says so; TLS usually ends at a proxy in front): a browser that once saw it never
    tries plain http again, so nobody on the path can strip TLS from a later visit. Browsers
    ignore it on plain http answers, so sending it behind the proxy is harmless."""
    if settings.resolved_public_url.startswith("https://") and settings.hsts_seconds > 0:
        return [(b"strict-transport-security", f"max-age={settings.hsts_seconds}".encode())]
    return []


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ApiError)
    return error_response(request.url.path, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 405:
        return error_response(path, errors.MethodNotAllowed(), exc.headers)  # keeps Allow
    if exc.status_code == 404:
        return error_response(path, errors.NotFound())
    return error_response(path, errors.InvalidRequest(str(exc.detail)))
