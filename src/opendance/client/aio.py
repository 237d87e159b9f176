"""``AsyncClient``: the asyncio SDK, the same plans as ``Client`` carried out with awaits."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from opendance.client import plans
from opendance.client.config import USER_AGENT, Endpoint, GenerateOptions, generate_request
from opendance.client.files import (
    DownloadTarget,
    ProgressCallback,
    broken_download,
    content_length,
)
from opendance.client.images import is_url
from opendance.client.models import Submitted, Task
from opendance.client.plans import Plan, PollPolicy, RetryPolicy, Sleep, Timing
from opendance.client.responses import error_from_response
from opendance.client.sync import CHUNK_BYTES, DEFAULT_WAIT_TIMEOUT

T = TypeVar("T")


class AsyncClient:
    """The asyncio twin of :class:`opendance.client.Client`; the same arguments and methods,
    awaited. Callbacks (``on_update``, ``on_progress``) are plain functions."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        polling: PollPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.endpoint = Endpoint.resolve(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self.polling = polling or PollPolicy()
        self._timing = Timing(clock=clock, random=random)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.endpoint.base_url,
            headers={"User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,
        )
        self._build = plans.with_headers(self._http.build_request, self.endpoint.api_headers())

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    async def generate(self, prompt: str, **options: Unpack[GenerateOptions]) -> Submitted:
        body = generate_request(prompt, options)
        return await self._run(plans.generate(self._build, body, self.retry, self._timing))

    async def status(self, task_id: str) -> Task:
        return await self._run(plans.status(self._build, task_id, self.retry, self._timing))

    async def wait(
        self,
        task_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,  # noqa: ASYNC109 - the wait's own deadline, as in Client
        poll: float | None = None,
        on_update: Callable[[Task], None] | None = None,
    ) -> Task:
        polling = self.polling if poll is None else self.polling.starting_at(poll)
        plan = plans.wait(
            self._build,
            task_id,
            timeout=timeout,
            polling=polling,
            policy=self.retry,
            timing=self._timing,
            on_update=on_update,
        )
        return await self._run(plan)

    async def generate_and_wait(
        self,
        prompt: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,  # noqa: ASYNC109 - the wait's own deadline, as in Client
        poll: float | None = None,
        on_update: Callable[[Task], None] | None = None,
        **options: Unpack[GenerateOptions],
    ) -> Task:
        submitted = await self.generate(prompt, **options)
        return await self.wait(submitted.task_id, timeout=timeout, poll=poll, on_update=on_update)

    async def download(
        self,
        task_id_or_url: str,
        path: str | Path,
        *,
        on_progress: ProgressCallback | None = None,
        chunk_size: int = CHUNK_BYTES,
    ) -> Path:
        if is_url(task_id_or_url):
            url = task_id_or_url
        else:
            build = self._build
            url = await self._run(plans.video_url(build, task_id_or_url, self.retry, self._timing))
        request = self._http.build_request("GET", url, headers=self.endpoint.download_headers(url))
        response = await self._run(
            plans.send(request, self.retry, self._timing, idempotent=True, stream=True)
        )
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            total = content_length(response.headers)
            # Chunks are written with blocking calls: a 64 KiB write to a local file is far
            # shorter than the network read it follows.
            with DownloadTarget(Path(path), url=url, total=total, on_progress=on_progress) as f:
                try:
                    async for chunk in response.aiter_bytes(chunk_size):
                        f.write(chunk)
                except httpx.TransportError as exc:
                    raise broken_download(url, exc) from exc
            return f.path
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's steps with awaited I/O (see ``Client._run``)."""
        outcome: Any = None
        failure: httpx.TransportError | None = None
        streaming: httpx.Response | None = None
        try:
            while True:
                step = plan.send(outcome) if failure is None else plan.throw(failure)
                outcome, failure = None, None
                if streaming is not None:
                    await streaming.aclose()
                    streaming = None
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    continue
                try:
                    outcome = await self._http.send(step.request, stream=step.stream)
                except httpx.TransportError as exc:
                    failure = exc
                    continue
                if step.stream:
                    streaming = outcome
        except StopIteration as stop:
            result: T = stop.value
            return result
        except BaseException:
            if streaming is not None:
                await streaming.aclose()
            raise
