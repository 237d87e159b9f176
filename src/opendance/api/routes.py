"""Routes: parse, call a service, shape the answer. Nothing else happens here."""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from opendance import errors
from opendance.api.ark_routes import ark_routes
from opendance.api.envelope import success
from opendance.api.metrics_endpoint import metrics
from opendance.api.openai_routes import openai_routes
from opendance.api.openapi import DOCS_PATH, OPENAPI_PATH, docs_page, openapi_json
from opendance.api.requests import caller, caller_and_task, ctx_of, json_body, json_create
from opendance.services import tasks
from opendance.services.auth import note_key_used
from opendance.services.delivery_log import deliveries_view
from opendance.services.health import readiness
from opendance.services.status import found_status, status_body
from opendance.services.submit import submit_generate
from opendance.services.task_lists import parse_task_list_query

# The key of a stored object never points at other bytes, so clients and proxies may cache it.
IMMUTABLE = "public, max-age=31536000, immutable"


async def generate(request: Request) -> Response:
    create = await json_create(request)
    ctx = ctx_of(request)
    task_id = await submit_generate(ctx, create.owner, create.body, idempotency=create.idempotency)
    note_key_used(ctx, create.owner)
    return success({"task_id": task_id, "status": "IN_PROGRESS"})


async def status(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = request.query_params.get("task_id", "").strip()
    owner, task = await caller_and_task(request, task_id)
    if not task_id:
        raise errors.InvalidRequest("the task_id query parameter is required")
    body = found_status(ctx, task_id, task)
    note_key_used(ctx, owner)
    return success(body)


async def list_tasks(request: Request) -> Response:
    """An extension: the caller's tasks, newest first, in pages of the status body."""
    owner = await caller(request)
    query = parse_task_list_query(request.query_params)
    page = await tasks.list_tasks(
        ctx_of(request), owner.account_id, query.which, limit=query.limit, after=query.after
    )
    ctx = ctx_of(request)
    return success(
        {
            "tasks": [status_body(ctx, task) for task in page.tasks],
            "has_more": page.has_more,
            "last_id": page.tasks[-1].id if page.tasks else None,
        }
    )


async def cancel(request: Request) -> Response:
    """An extension: cancel a queued or running task; it reads FAILED, refunded."""
    owner = await caller(request)
    body = await json_body(request)
    task_id = body.get("task_id") if isinstance(body, dict) else None
    if not isinstance(task_id, str) or not task_id.strip():
        raise errors.InvalidRequest("task_id must be the id of a task")
    task = await tasks.cancel(ctx_of(request), owner.account_id, task_id.strip())
    return success(status_body(ctx_of(request), task))


async def webhook_deliveries(request: Request) -> Response:
    """The caller's webhook deliveries (optionally of one task) and their attempts."""
    owner = await caller(request)
    task_id = request.query_params.get("task_id") or None
    found = await deliveries_view(ctx_of(request), account_id=owner.account_id, task_id=task_id)
    return success({"deliveries": found})


async def stored_file(request: Request) -> Response:
    key: str = request.path_params["key"]
    path = ctx_of(request).store.signed_file(key, request.query_params.get("sig", ""))
    if path is None:
        raise errors.NotFound("no such file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": IMMUTABLE})


async def healthz(_request: Request) -> Response:
    return success({"status": "ok"})


async def readyz(request: Request) -> Response:
    return success(await readiness(ctx_of(request)))


async def index(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/dashboard", status_code=303)  # a browser: the dashboard
    return success(
        {
            "service": "opendance",
            "endpoints": [
                "POST /v1/generate",
                "GET /v1/status?task_id=",
                "GET /v1/tasks?status=&limit=&after=",
                "POST /v1/cancel",
                "POST /v1/videos (OpenAI Videos API)",
                "POST /api/v3/contents/generations/tasks (Ark task API)",
                "GET /healthz",
                "GET /readyz",
                "GET /metrics",
                "GET /dashboard",
                "GET /playground",
                "GET /openapi.json",
                "GET /docs",
            ],
        }
    )


def routes() -> list[Route]:
    return [
        Route("/v1/generate", generate, methods=["POST"]),
        Route("/v1/status", status, methods=["GET"]),
        Route("/v1/tasks", list_tasks, methods=["GET"]),
        Route("/v1/cancel", cancel, methods=["POST"]),
        Route("/v1/webhooks/deliveries", webhook_deliveries, methods=["GET"]),
        *openai_routes(),
        Route("/files/{key:path}", stored_file, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", index, methods=["GET"]),
        *ark_routes(),
        # last: no request of the other routes matches against these
        Route(OPENAPI_PATH, openapi_json, methods=["GET"]),
        Route(DOCS_PATH, docs_page, methods=["GET"]),
    ]
