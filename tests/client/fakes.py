"""Transport-level fakes for the SDK: scripted answers behind ``httpx.MockTransport`` and a
clock that moves only when the client sleeps, so tests of retries and deadlines never wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from opendance.client import Client, RetryPolicy

KEY = "od_test_key"
BASE = "http://api.test"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def envelope(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"code": 200, "message": "success", "data": data}, headers=headers
    )


def api_error(status: int, error: str, message: str, **headers: str) -> httpx.Response:
    body = {"code": status, "message": message, "error": error, "data": None}
    return httpx.Response(status, json=body, headers=headers)


def task_data(status: str = "IN_PROGRESS", progress: int = 0, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": "task_1",
        "status": status,
        "consumed_credits": 8,
        "created_at": "2026-02-07T10:30:00Z",
        "request": {"prompt": "p", "aspect_ratio": "1:1", "resolution": "480p", "duration": "4"},
        "response": [f"{BASE}/files/v.mp4?sig=s"] if status == "SUCCESS" else [],
        "error_message": "engine failed" if status == "FAILED" else None,
        "progress": progress,
    }
    data.update(extra)
    return data


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@dataclass
class Script:
    """Answers requests in order; the last answer repeats. Records every request."""

    answers: list[Answer]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def scripted_client(
    *answers: Answer, time: FakeTime | None = None, retry: RetryPolicy | None = None
) -> tuple[Client, Script, FakeTime]:
    script = Script(list(answers))
    fake_time = time or FakeTime()
    client = Client(
        BASE,
        KEY,
        transport=script.transport,
        retry=retry or RetryPolicy(jitter=0),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        random=lambda: 0.5,
    )
    return client, script, fake_time
