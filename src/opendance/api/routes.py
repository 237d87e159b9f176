"""Routes: parse, call a service, shape the answer. Nothing else happens here."""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from opendance import errors
from opendance.api.envelope import success
from opendance.api.metrics_endpoint import metrics
from opendance.api.ratelimit import ApiRateLimits
from opendance.domain.accounts import KeyOwner
from opendance.services.auth import authenticate, authenticate_with_task, note_key_used
from opendance.services.context import AppContext
from opendance.services.delivery_log import deliveries_view
from opendance.services.health import readiness
from opendance.services.status import found_status
from opendance.services.submit import submit_generate

# The key of a stored object never points at other bytes, so clients and proxies may cache it.
IMMUTABLE = "public, max-age=31536000, immutable"


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _caller(request: Request) -> KeyOwner:
    """Authenticate first (before anything else), then apply the rate limits."""
    with _limits(request).authenticating(request):
        owner = await authenticate(_ctx(request), request.headers.get("authorization"))
    _rate_limit(request, owner)
    return owner


def _limits(request: Request) -> ApiRateLimits:
    limits: ApiRateLimits = request.app.state.rate_limiter
    return limits


def _rate_limit(request: Request, owner: KeyOwner) -> None:
    _limits(request).check(owner)


async def _json_body(request: Request) -> Any:
    limit = _ctx(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("the request body must be a JSON object") from None


async def generate(request: Request) -> Response:
    owner = await _caller(request)
    body = await _json_body(request)
    task_id = await submit_generate(_ctx(request), owner, body)
    note_key_used(_ctx(request), owner)
    return success({"task_id": task_id, "status": "IN_PROGRESS"})


async def status(request: Request) -> Response:
    ctx = _ctx(request)
    task_id = request.query_params.get("task_id", "").strip()
    with _limits(request).authenticating(request):
        owner, task = await authenticate_with_task(
            ctx, request.headers.get("authorization"), task_id
        )
    _rate_limit(request, owner)
    if not task_id:
        raise errors.InvalidRequest("the task_id query parameter is required")
    body = found_status(ctx, task_id, task)
    note_key_used(ctx, owner)
    return success(body)


async def webhook_deliveries(request: Request) -> Response:
    """The caller's webhook deliveries (optionally of one task) and their attempts."""
    owner = await _caller(request)
    task_id = request.query_params.get("task_id") or None
    found = await deliveries_view(_ctx(request), account_id=owner.account_id, task_id=task_id)
    return success({"deliveries": found})


async def stored_file(request: Request) -> Response:
    key: str = request.path_params["key"]
    path = _ctx(request).store.signed_file(key, request.query_params.get("sig", ""))
    if path is None:
        raise errors.NotFound("no such file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": IMMUTABLE})


async def healthz(_request: Request) -> Response:
    return success({"status": "ok"})


async def readyz(request: Request) -> Response:
    return success(await readiness(_ctx(request)))


async def index(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/dashboard", status_code=303)  # a browser: the dashboard
    return success(
        {
            "service": "opendance",
            "endpoints": [
                "POST /v1/generate",
                "GET /v1/status?task_id=",
                "GET /healthz",
                "GET /readyz",
                "GET /metrics",
                "GET /dashboard",
                "GET /playground",
            ],
        }
    )


def routes() -> list[Route]:
    return [
        Route("/v1/generate", generate, methods=["POST"]),
        Route("/v1/status", status, methods=["GET"]),
        Route("/v1/webhooks/deliveries", webhook_deliveries, methods=["GET"]),
        Route("/files/{key:path}", stored_file, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", index, methods=["GET"]),
    ]
