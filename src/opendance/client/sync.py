"""``Client``: the blocking SDK. Its logic lives in ``plans``; this class carries out the steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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

__all__ = ["CHUNK_BYTES", "DEFAULT_WAIT_TIMEOUT", "Client"]


class Client(ClientBase[httpx.Client, httpx.BaseTransport, None]):
    """A client of the Opendance / Seedance 2.0 API.

    ``base_url`` and ``api_key`` default to ``OPENDANCE_BASE_URL`` and ``OPENDANCE_API_KEY``.
    ``transport`` replaces the network (e.g. ``httpx.MockTransport`` in tests); ``sleep``,
    ``clock`` and ``random`` replace time and chance, so tests of waits need not wait.
    """

    _http_class = httpx.Client

    @staticmethod
    def _default_sleep(seconds: float) -> None:
        time.sleep(seconds)

    def generate(self, prompt: str, **options: Unpack[GenerateOptions]) -> Submitted:
        """Create a task (``POST /v1/generate``); its price is charged at once. A try whose
        answer was lost is retried with the same ``Idempotency-Key``: one task, one charge."""
        return self._run(self._generate_plan(prompt, options))

    def status(self, task_id: str) -> Task:
        """The task as it stands now (``GET /v1/status``)."""
        return self._run(self._status_plan(task_id))

    def list(
        self, status: TaskStatus | str | None = None, *, limit: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Task]:
        """Every task of the account, newest first (``GET /v1/tasks``), or those with this
        ``status``. Pages of ``limit`` tasks (1 to 100) are fetched as the iteration reaches
        them: stop early, and later pages are never asked for."""
        # checked now, not at the first page: a bad status fails where it was given
        return self._pages(self._wanted_status(status), limit)

    def _pages(self, status: TaskStatus | None, limit: int) -> Iterator[Task]:
        after = None
        while True:
            page = self._run(self._page_plan(status, limit, after))
            yield from page.tasks
            if page.next_after is None:
                return
            after = page.next_after

    def cancel(self, task_id: str) -> Task:
        """Cancel a queued or running task (``POST /v1/cancel``); it reads FAILED, its credits
        refunded. Raises ``TaskNotCancellable`` if it has already finished."""
        return self._run(self._cancel_plan(task_id))

    def wait(
        self,
        task_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll: float | None = None,
        on_update: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll until the task is SUCCESS or FAILED and return it. Raises ``WaitTimeout`` after
        ``timeout`` seconds; the task is not cancelled by that. ``poll`` is the first interval
        (it grows with backoff); ``on_update`` sees every polled state."""
        return self._run(self._wait_plan(task_id, timeout, poll, on_update))

    def generate_and_wait(
        self,
        prompt: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll: float | None = None,
        on_update: Callable[[Task], None] | None = None,
        **options: Unpack[GenerateOptions],
    ) -> Task:
        """``generate`` then ``wait``: the finished task (check ``.status``; FAILED is
        returned, not raised — its credits are refunded)."""
        submitted = self.generate(prompt, **options)
        return self.wait(submitted.task_id, timeout=timeout, poll=poll, on_update=on_update)

    def download(
        self,
        task_id_or_url: str,
        path: str | Path,
        *,
        on_progress: ProgressCallback | None = None,
        chunk_size: int = CHUNK_BYTES,
    ) -> Path:
        """Stream a task's video (or any video URL) to ``path``; return the path."""
        url, response = self._run(self._download_plan(task_id_or_url))
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            with self._target(path, url, response, on_progress) as f:
                for chunk in response.iter_bytes(chunk_size):
                    f.write(chunk)
            return f.path
        finally:
            response.close()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's steps with blocking I/O."""
        run = PlanRun(plan)
        try:
            while True:
                step, stale = run.next_step()
                if stale is not None:  # the plan moved on: that answer is not the result
                    stale.close()
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    continue
                try:
                    response = self._http.send(step.request, stream=step.stream)
                except httpx.TransportError as exc:
                    run.failed(exc)
                else:
                    run.answered(response, stream=step.stream)
        except StopIteration as stop:
            result: T = stop.value
            return result
        except BaseException:
            if run.streaming is not None:
                run.streaming.close()
            raise
