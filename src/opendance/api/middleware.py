"""Request ids, one log line per request, the request metrics, and the last line of defence
for unexpected errors.

A plain ASGI middleware (not BaseHTTPMiddleware): it sits on the hot path of every status poll.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendance.api.error_shapes import error_response
from opendance.errors import InternalError, InvalidRequest
from opendance.logs import json_logging_enabled, request_id_var
from opendance.metrics.http import HttpMetrics

log = logging.getLogger("opendance.access")
error_log = logging.getLogger("opendance.api")

REQUEST_ID_HEADER = b"x-request-id"
# Request ids must be unique, not secret: a random per-process prefix plus a counter is unique
# across processes and costs nothing per request.
_REQUEST_ID_PREFIX = secrets.token_hex(4)
_request_counter = itertools.count(1)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Sent on every answer, errors and pages included (Strict-Transport-Security).
        self.headers = list(headers or [])
        # The access line's fields are for JSON lines only; building them costs as much as a
        # sixth of the line itself, so a text log does without. (Starlette builds middleware
        # at the first request, after the process configured its logging.)
        self.access_fields = json_logging_enabled()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or _new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode("ascii")),
                    *self.headers,
                ]
            await send(message)

        try:
            if _has_nul(scope):
                refused = InvalidRequest("the URL must not contain NUL characters")
                await error_response(scope["path"], refused)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error (request_id=%s)", request_id)
            if not response_started:
                error = InternalError(f"internal server error (request id {request_id})")
                await error_response(scope["path"], error)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe(scope, status, elapsed)
            if log.isEnabledFor(logging.INFO):
                _log_access(scope, status, elapsed, request_id, fields=self.access_fields)
            request_id_var.reset(token)


def _has_nul(scope: Scope) -> bool:
    """No identifier or text this server takes from a URL may hold NUL, and PostgreSQL cannot
    even compare with one: refused once here, for every route of every door."""
    query: bytes = scope["query_string"]
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def _log_access(
    scope: Scope, status: int, elapsed: float, request_id: str, *, fields: bool
) -> None:
    # The path is decoded and may hold anything a client sent (%0a, %1b): the text format
    # escapes non-printables (logs.TextFormatter), the JSON format encodes them.
    client, method, path = _client(scope), scope["method"], scope["path"]
    extra = (
        {
            "client": client,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
            "request_id": request_id,
        }
        if fields
        else None
    )
    log.info(
        '%s "%s %s" %d %.1fms request_id=%s',
        client,
        method,
        path,
        status,
        elapsed * 1000,
        request_id,
        extra=extra,
    )


def _new_request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_counter):08x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
