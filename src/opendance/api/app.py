"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from opendance import __version__, errors
from opendance.api.envelope import error_headers, failure
from opendance.api.middleware import RequestContextMiddleware
from opendance.api.ratelimit import RateLimiter
from opendance.api.routes import router
from opendance.services.context import AppContext


def create_app(ctx: AppContext) -> FastAPI:
    """An app over an open ``AppContext`` (the caller owns and closes it)."""
    app = FastAPI(
        title="Opendance",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.rate_limiter = RateLimiter(ctx.settings.rate_limit_per_minute)
    app.include_router(router)
    app.add_middleware(RequestContextMiddleware)

    @app.exception_handler(errors.ApiError)
    async def _api_error(_request: Request, exc: errors.ApiError) -> Response:
        return failure(exc, error_headers(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return failure(errors.MethodNotAllowed())
        if exc.status_code == 404:
            return failure(errors.NotFound())
        return failure(errors.InvalidRequest(str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, _exc: RequestValidationError) -> Response:
        return failure(errors.InvalidRequest())

    return app
