"""The Ark door: ByteDance's content generation task API under
``/api/v3/contents/generations/tasks``, so that Ark's SDK works by changing its base URL.

Routes parse, call a service and shape the answer; errors under ``/api/v3/`` are rendered in
Ark's shape by ``error_shapes``. ``GET .../{id}`` is a status poll: one read authenticates the
key and fetches the task, as ``GET /v1/status`` does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opendance import errors
from opendance.api.envelope import JsonResponse
from opendance.api.requests import caller, caller_and_task, ctx_of, json_create
from opendance.services.ark_create import create_ark_task
from opendance.services.ark_objects import task_object
from opendance.services.ark_tasks import delete_task, list_page, parse_list_query
from opendance.services.auth import note_key_used

TASKS_PATH = "/api/v3/contents/generations/tasks"


async def create(request: Request) -> Response:
    asked = await json_create(request)
    ctx = ctx_of(request)
    task_id = await create_ark_task(ctx, asked.owner, asked.body, idempotency=asked.idempotency)
    note_key_used(ctx, asked.owner)
    return JsonResponse({"id": task_id})


async def get(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id: str = request.path_params["task_id"]
    owner, task = await caller_and_task(request, task_id)
    if task is None:
        raise errors.TaskNotFound(f"the task {task_id!r} is not found")
    note_key_used(ctx, owner)
    return JsonResponse(task_object(ctx, task))


async def list_tasks(request: Request) -> Response:
    owner = await caller(request)
    params = request.query_params
    query = parse_list_query(params, params.getlist("filter.task_ids"))
    ctx = ctx_of(request)
    total, found = await list_page(ctx, owner.account_id, query)
    return JsonResponse({"total": total, "items": [task_object(ctx, task) for task in found]})


async def delete(request: Request) -> Response:
    owner = await caller(request)
    await delete_task(ctx_of(request), owner.account_id, request.path_params["task_id"])
    return JsonResponse({})


def ark_routes() -> list[Route]:
    return [
        Route(TASKS_PATH, create, methods=["POST"]),
        Route(TASKS_PATH, list_tasks, methods=["GET"]),
        Route(TASKS_PATH + "/{task_id}", get, methods=["GET"]),
        Route(TASKS_PATH + "/{task_id}", delete, methods=["DELETE"]),
    ]
