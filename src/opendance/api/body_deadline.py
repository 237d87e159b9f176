"""A deadline for the request body: a client that trickles its body in (one byte every few
seconds) would otherwise hold its connection, and a slot under the connection cap, for as
long as it likes. The body must arrive whole within ``seconds`` of the request's headers; else
the handler's read fails with ``RequestTimeout`` (408 in the envelope, connection closed).

Only the body is timed: once it is complete, ``receive`` is the app's own again (streaming
answers wait on it for the client's disconnect, for as long as the answer takes).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendance.errors import RequestTimeout


class BodyDeadlineMiddleware:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body was not received within {self.seconds:g} s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, receive_in_time, send)
