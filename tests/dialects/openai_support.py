"""Driving a live server with the official OpenAI SDK (v3: over httpx2), and looking at what
it sent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from openai.types.video import Video

from opendance.db import accounts as account_rows
from opendance.domain.task_view import TaskView
from opendance.services import tasks
from opendance.services.context import AppContext
from tests.support.live import LiveServer

# The SDK marks every Videos method deprecated (OpenAI's Sora API closes in September 2026).
SORA_DEPRECATION = "ignore:The Sora API is scheduled:DeprecationWarning"


@dataclass
class SentRequests:
    """Every request the SDK's HTTP client sent: method, path, Content-Type."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def hook(self, request: httpx2.Request) -> None:
        self.seen.append(
            (request.method, request.url.path, request.headers.get("content-type", ""))
        )


def sdk(
    live: LiveServer, key: str, *, max_retries: int = 0, sent: SentRequests | None = None
) -> openai.OpenAI:
    """The SDK pointed at the server, as a user does it: only the base URL changes. No
    retries unless asked, so that an error is seen as the server sent it."""
    hooks: dict[str, list[Any]] = {"request": [sent.hook]} if sent is not None else {}
    return openai.OpenAI(
        api_key=key,
        base_url=live.url + "/v1",
        max_retries=max_retries,
        http_client=httpx2.Client(event_hooks=hooks, timeout=30),
    )


def wait_until_done(client: openai.OpenAI, video_id: str, timeout: float = 120) -> Video:
    """Retrieve until the video is completed or failed, briskly (the SDK's ``poll`` waits as
    long as the server's header says, and for ever)."""
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        assert time.monotonic() < deadline, f"{video_id} still {video.status}"
        time.sleep(0.1)


def task_of(live: LiveServer, account: str, video_id: str) -> TaskView:
    """The task behind a video, read through the task service (its stored request)."""

    async def read(ctx: AppContext) -> TaskView:
        async with ctx.db.read() as conn:
            found = await account_rows.get_account_by_name(conn, account)
        return await tasks.get(ctx, found.id, video_id)

    return live.call(read)


def error_of(response: Any) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped error answer, checked for its four keys."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error
