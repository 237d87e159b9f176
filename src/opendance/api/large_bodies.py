"""A bound on the large request bodies the API holds at once.

A create with an inline image carries up to 32 MiB; reading it, parsing its JSON and decoding
its image holds several copies of it for the request's lifetime. Unbounded, a dozen such
requests in parallel (from any key, even one without credits) take the API from a few hundred
MiB to well over a GiB. Requests whose body may be large (a declared length above
``LARGE_BODY_BYTES``, or no declared length at all) each need one of ``slots`` places for their
whole handling; the rest, and every GET, pass untouched. A large request that finds no place
within ``wait_seconds`` is answered 503 with Retry-After, its body unread.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from opendance.api.error_shapes import error_response
from opendance.errors import ServerBusy

LARGE_BODY_BYTES: Final = 1024 * 1024
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class LargeBodyGate:
    def __init__(self, app: ASGIApp, *, slots: int, wait_seconds: float = 5.0) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(slots) if slots > 0 else None
        self.wait_seconds = wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.slots is None or scope["type"] != "http" or not _may_be_large(scope):
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self.slots.acquire()
        except TimeoutError:
            busy = ServerBusy(
                "the server is handling as many large requests as it takes at once; retry"
            )
            await error_response(scope["path"], busy)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()


def _may_be_large(scope: Scope) -> bool:
    if scope["method"] not in _BODY_METHODS:
        return False
    for name, value in scope["headers"]:
        if name == b"content-length":
            return not value.isdigit() or len(value) > 15 or int(value) > LARGE_BODY_BYTES
    return True  # chunked: its size is known only once it is read
