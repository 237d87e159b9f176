"""What every door's handlers do first: find the context, authenticate and rate-limit the
caller, read a bounded body, read an Idempotency-Key. Each raises ``ApiError``; the app renders
it in the shape of the door the request came to (``api/error_shapes.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from opendance import errors
from opendance.api.ratelimit import ApiRateLimits
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_view import TaskView
from opendance.services.auth import authenticate, authenticate_with_task
from opendance.services.context import AppContext
from opendance.services.tasks import IdempotencyKey

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 255


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def limits_of(request: Request) -> ApiRateLimits:
    limits: ApiRateLimits = request.app.state.rate_limiter
    return limits


async def caller(request: Request) -> KeyOwner:
    """Authenticate first (before anything else), then apply the rate limits."""
    with limits_of(request).authenticating(request):
        owner = await authenticate(ctx_of(request), request.headers.get("authorization"))
    limits_of(request).check(owner)
    return owner


async def caller_and_task(request: Request, task_id: str) -> tuple[KeyOwner, TaskView | None]:
    """The caller and, in the same read, their task ``task_id`` (None: unknown, another
    account's or deleted): the one query of a status poll."""
    with limits_of(request).authenticating(request):
        owner, task = await authenticate_with_task(
            ctx_of(request), request.headers.get("authorization"), task_id
        )
    limits_of(request).check(owner)
    return owner, task


async def body_bytes(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the server's limit."""
    limit = ctx_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        raise errors.PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    try:
        return orjson.loads(await body_bytes(request))
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("the request body must be a JSON object") from None


def idempotency_key(request: Request, canonical_body: Callable[[], bytes]) -> IdempotencyKey | None:
    """The request's ``Idempotency-Key``, fingerprinted by its method, route and body (the
    body as the door parsed it: JSON with its keys sorted, or a form's fields and files).
    The body is spelled out only when the request has a key: most creates have none."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise errors.InvalidRequest(
            f"the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
            "characters"
        )
    route = f"{request.method} {request.url.path}".encode()
    return IdempotencyKey.of(key, route, canonical_body())


@dataclass(frozen=True)
class JsonCreate:
    """A create request with a JSON body, read as every door reads one: the caller first,
    then the body, then its Idempotency-Key fingerprinted by that body."""

    owner: KeyOwner
    body: Any
    idempotency: IdempotencyKey | None


async def json_create(request: Request) -> JsonCreate:
    owner = await caller(request)
    body = await json_body(request)
    return JsonCreate(owner, body, idempotency_key(request, lambda: canonical_json(body)))


def canonical_json(body: Any) -> bytes:
    """A parsed JSON body in one spelling, whatever its key order or spacing."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
