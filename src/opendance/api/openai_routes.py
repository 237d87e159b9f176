"""The OpenAI Videos door (``/v1/videos``): parse, call a service, shape the answer. Errors on
these paths take OpenAI's shape (``api/error_shapes.py``)."""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from opendance import errors
from opendance.api.envelope import JsonResponse
from opendance.api.requests import (
    body_bytes,
    caller,
    caller_and_task,
    canonical_json,
    ctx_of,
    idempotency_key,
    json_create,
)
from opendance.net.limits import MAX_IMAGE_BYTES
from opendance.services import tasks
from opendance.services.auth import note_key_used
from opendance.services.multipart_form import canonical_form, is_multipart, parse_form
from opendance.services.openai_door import (
    create_video,
    delete_video,
    not_found,
    open_content,
    remix_video,
)
from opendance.services.openai_fields import form_values
from opendance.services.openai_videos import (
    POLL_AFTER_MS,
    deleted_object,
    list_object,
    list_query,
    video_object,
)

POLL_HEADERS: Final = {"openai-poll-after-ms": str(POLL_AFTER_MS)}
# Below this a form is parsed inline: a thread hop would cost more than the parse.
INLINE_FORM_BYTES: Final = 64 * 1024


async def create(request: Request) -> Response:
    owner = await caller(request)
    ctx = ctx_of(request)
    content_type = request.headers.get("content-type", "")
    body = await body_bytes(request)
    values: dict[str, Any]
    if is_multipart(content_type):
        if len(body) > INLINE_FORM_BYTES:
            form = await asyncio.to_thread(
                parse_form, content_type, body, max_file_bytes=MAX_IMAGE_BYTES
            )
        else:
            form = parse_form(content_type, body, max_file_bytes=MAX_IMAGE_BYTES)
        values = form_values(form)
        key = idempotency_key(request, lambda: canonical_form(form))
    else:  # JSON, as the SDK sent it before 2.27 (and as most hand-written clients do)
        values = _json_object(body)
        key = idempotency_key(request, lambda: canonical_json(values))
    video = await create_video(ctx, owner, values, idempotency=key)
    note_key_used(ctx, owner)
    return JsonResponse(video_object(video, ctx.settings.retention_days))


async def retrieve(request: Request) -> Response:
    # The poll: one read for the key and the task, then a copy of fields (benchmarked against
    # GET /v1/status in bench/bench_api.py).
    ctx = ctx_of(request)
    video_id: str = request.path_params["video_id"]
    owner, task = await caller_and_task(request, video_id)
    if task is None:
        raise not_found(video_id)
    note_key_used(ctx, owner)
    headers = None if task.status.terminal else POLL_HEADERS
    return JsonResponse(video_object(task, ctx.settings.retention_days), headers=headers)


async def list_videos(request: Request) -> Response:
    owner = await caller(request)
    ctx = ctx_of(request)
    query = list_query(request.query_params)
    page = await tasks.list_tasks(
        ctx,
        owner.account_id,
        limit=query.limit,
        newest_first=query.newest_first,
        after=query.after,
    )
    note_key_used(ctx, owner)
    return JsonResponse(list_object(page.tasks, page.has_more, ctx.settings.retention_days))


async def delete(request: Request) -> Response:
    owner = await caller(request)
    video_id: str = request.path_params["video_id"]
    await delete_video(ctx_of(request), owner.account_id, video_id)
    note_key_used(ctx_of(request), owner)
    return JsonResponse(deleted_object(video_id))


async def content(request: Request) -> Response:
    ctx = ctx_of(request)
    video_id: str = request.path_params["video_id"]
    owner, task = await caller_and_task(request, video_id)
    found = await open_content(ctx, video_id, task, request.query_params.get("variant"))
    note_key_used(ctx, owner)
    return StreamingResponse(
        found.reader.chunks,
        media_type=found.media_type,
        headers={"Content-Length": str(found.reader.size)},
    )


async def remix(request: Request) -> Response:
    asked = await json_create(request)
    ctx = ctx_of(request)
    video_id = request.path_params["video_id"]
    video = await remix_video(ctx, asked.owner, video_id, asked.body, idempotency=asked.idempotency)
    note_key_used(ctx, asked.owner)
    return JsonResponse(video_object(video, ctx.settings.retention_days))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise errors.InvalidRequest(
            "the request body must be a JSON object or a multipart/form-data form"
        )
    return parsed


def openai_routes() -> list[Route]:
    return [
        Route("/v1/videos", create, methods=["POST"]),
        Route("/v1/videos", list_videos, methods=["GET"]),
        Route("/v1/videos/{video_id}", retrieve, methods=["GET"]),
        Route("/v1/videos/{video_id}", delete, methods=["DELETE"]),
        Route("/v1/videos/{video_id}/content", content, methods=["GET"]),
        Route("/v1/videos/{video_id}/remix", remix, methods=["POST"]),
    ]
