"""``AsyncClient``: the asyncio SDK, the same plans as ``Client`` carried out with awaits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar, Unpack

import httpx

from opendance.client.base import (
    CHUNK_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAIT_TIMEOUT,
    ClientBase,
    PlanRun,
)
from opendance.client.config import GenerateOptions
from opendance.client.files import ProgressCallback
from opendance.client.models import Submitted, Task, TaskStatus
from opendance.client.plans import Plan, Sleep
from opendance.client.responses import error_from_response

T = TypeVar("T")


class AsyncClient(ClientBase[httpx.AsyncClient, httpx.AsyncBaseTransport, Awaitable[None]]):
    """The asyncio twin of :class:`opendance.client.Client`; the same arguments and methods,
    awaited. Callbacks (``on_update``, ``on_progress``) are plain functions."""

    _http_class = httpx.AsyncClient

    @staticmethod
    async def _default_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def generate(self, prompt: str, **options: Unpack[GenerateOptions]) -> Submitted:
        return await self._run(self._generate_plan(prompt, options))

    async def status(self, task_id: str) -> Task:
        return await self._run(self._status_plan(task_id))

    def list(
        self, status: TaskStatus | str | None = None, *, limit: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Task]:
        """``async for task in client.list(...)``: see ``Client.list``."""
        return self._pages(self._wanted_status(status), limit)

    async def _pages(self, status: TaskStatus | None, limit: int) -> AsyncIterator[Task]:
        after = None
        while True:
            page = await self._run(self._page_plan(status, limit, after))
            for task in page.tasks:
                yield task
            if page.next_after is None:
                return
            after = page.next_after

    async def cancel(self, task_id: str) -> Task:
        return await self._run(self._cancel_plan(task_id))

    async def wait(
        self,
        task_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,  # noqa: ASYNC109 - the wait's own deadline, as in Client
        poll: float | None = None,
        on_update: Callable[[Task], None] | None = None,
    ) -> Task:
        return await self._run(self._wait_plan(task_id, timeout, poll, on_update))

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
        url, response = await self._run(self._download_plan(task_id_or_url))
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            # Chunks are written with blocking calls: a 64 KiB write to a local file is far
            # shorter than the network read it follows.
            with self._target(path, url, response, on_progress) as f:
                async for chunk in response.aiter_bytes(chunk_size):
                    f.write(chunk)
            return f.path
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's steps with awaited I/O (see ``Client._run``)."""
        run = PlanRun(plan)
        try:
            while True:
                step, stale = run.next_step()
                if stale is not None:
                    await stale.aclose()
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    continue
                try:
                    response = await self._http.send(step.request, stream=step.stream)
                except httpx.TransportError as exc:
                    run.failed(exc)
                else:
                    run.answered(response, stream=step.stream)
        except StopIteration as stop:
            result: T = stop.value
            return result
        except BaseException:
            if run.streaming is not None:
                await run.streaming.aclose()
            raise
