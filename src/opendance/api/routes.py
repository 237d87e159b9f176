"""Routes: parse, call a service, shape the answer. Nothing else happens here."""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import FileResponse, Response

from opendance import errors
from opendance.api.envelope import JsonResponse, success
from opendance.api.ratelimit import RateLimiter
from opendance.db import tasks as task_rows
from opendance.db import workers as worker_rows
from opendance.db.accounts import KeyOwner
from opendance.services.auth import authenticate
from opendance.services.context import AppContext
from opendance.services.status import task_status
from opendance.services.submit import submit_generate
from opendance.storage.base import ObjectNotFound

router = APIRouter()
# The key of a stored object never points at other bytes, so clients and proxies may cache it.
IMMUTABLE = "public, max-age=31536000, immutable"


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _caller(request: Request) -> KeyOwner:
    """Authenticate first (before anything else), then apply the key's rate limit."""
    owner = await authenticate(_ctx(request), request.headers.get("authorization"))
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(owner.key_id)
    return owner


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


@router.post("/v1/generate")
async def generate(request: Request) -> Response:
    owner = await _caller(request)
    body = await _json_body(request)
    task_id = await submit_generate(_ctx(request), owner, body)
    return success({"task_id": task_id, "status": "IN_PROGRESS"})


@router.get("/v1/status")
async def status(request: Request) -> Response:
    owner = await _caller(request)
    task_id = request.query_params.get("task_id", "").strip()
    if not task_id:
        raise errors.InvalidRequest("the task_id query parameter is required")
    return success(await task_status(_ctx(request), owner.account_id, task_id))


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"])
async def stored_file(request: Request, key: str) -> Response:
    ctx = _ctx(request)
    signature = request.query_params.get("sig", "")
    try:
        path = ctx.store.path_for(key)
    except ObjectNotFound:
        raise errors.NotFound("no such file") from None
    if not ctx.store.verify(key, signature) or not path.is_file():
        raise errors.NotFound("no such file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": IMMUTABLE})


@router.get("/healthz")
async def healthz() -> Response:
    return success({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    ctx = _ctx(request)
    try:
        async with ctx.db.read() as conn:
            await conn.execute(text("SELECT 1"))
            workers = await worker_rows.live_workers(
                conn, seen_within=ctx.settings.worker_seen_seconds
            )
            queued = await task_rows.queue_depth(conn)
    except Exception:
        raise errors.NotReady("the database is not reachable") from None
    data = {"database": "ok", "workers": workers, "queued": queued}
    if workers == 0:
        return JsonResponse(
            {
                "code": 503,
                "message": "no worker has reported recently; tasks will wait in the queue",
                "error": "NOT_READY",
                "data": data,
            },
            status_code=503,
        )
    return success(data)


@router.get("/")
async def index(request: Request) -> Response:
    return success(
        {
            "service": "opendance",
            "endpoints": [
                "POST /v1/generate",
                "GET /v1/status?task_id=",
                "GET /healthz",
                "GET /readyz",
            ],
        }
    )
