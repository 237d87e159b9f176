"""What ``Client`` and ``AsyncClient`` share: their settings, the plans they carry out and the
bookkeeping of a plan's run. Each subclass only does the I/O, blocking or awaited."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from opendance.client import plans
from opendance.client.config import USER_AGENT, Endpoint, GenerateOptions, generate_request
from opendance.client.files import DownloadTarget, ProgressCallback, content_length
from opendance.client.images import is_url
from opendance.client.models import Submitted, Task, TaskPage, TaskStatus
from opendance.client.plans import Plan, PollPolicy, RetryPolicy, Step, Timing

T = TypeVar("T")
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
SleepT = TypeVar("SleepT")

DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_PAGE_SIZE = 20  # the server's own default of GET /v1/tasks
CHUNK_BYTES = 64 * 1024


class ClientBase(Generic[HttpT, TransportT, SleepT]):
    """The settings and plans of a client; ``sleep`` left out is the subclass's own."""

    _http_class: type[HttpT]

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        polling: PollPolicy | None = None,
        transport: TransportT | None = None,
        sleep: Callable[[float], SleepT] | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.endpoint = Endpoint.resolve(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self.polling = polling or PollPolicy()
        self._timing = Timing(clock=clock, random=random)
        self._sleep: Callable[[float], SleepT] = sleep or self._default_sleep
        self._http: HttpT = self._http_class(
            base_url=self.endpoint.base_url,
            headers={"User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,  # type: ignore[arg-type]  # the subclass pairs them
        )
        self._build = plans.with_headers(self._http.build_request, self.endpoint.api_headers())

    @staticmethod
    def _default_sleep(seconds: float) -> SleepT:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    def _generate_plan(self, prompt: str, options: GenerateOptions) -> Plan[Submitted]:
        body = generate_request(prompt, options)
        # one key per call, the same on each of its tries
        key = options.get("idempotency_key") or str(uuid.uuid4())
        return plans.generate(self._build, body, self.retry, self._timing, idempotency_key=key)

    def _cancel_plan(self, task_id: str) -> Plan[Task]:
        return plans.cancel(self._build, task_id, self.retry, self._timing)

    @staticmethod
    def _wanted_status(status: TaskStatus | str | None) -> TaskStatus | None:
        """A list's status filter; ``ValueError`` names a status the API does not have."""
        return TaskStatus(status) if status is not None else None

    def _page_plan(
        self, status: TaskStatus | None, limit: int, after: str | None
    ) -> Plan[TaskPage]:
        return plans.task_page(self._build, status, limit, after, self.retry, self._timing)

    def _status_plan(self, task_id: str) -> Plan[Task]:
        return plans.status(self._build, task_id, self.retry, self._timing)

    def _wait_plan(
        self,
        task_id: str,
        timeout: float,
        poll: float | None,
        on_update: Callable[[Task], None] | None,
    ) -> Plan[Task]:
        polling = self.polling if poll is None else self.polling.starting_at(poll)
        return plans.wait(
            self._build,
            task_id,
            timeout=timeout,
            polling=polling,
            policy=self.retry,
            timing=self._timing,
            on_update=on_update,
        )

    def _download_plan(self, task_id_or_url: str) -> Plan[tuple[str, httpx.Response]]:
        """The video's URL and its streamed (not yet read) answer."""
        if is_url(task_id_or_url):
            url = task_id_or_url
        else:
            url = yield from plans.video_url(self._build, task_id_or_url, self.retry, self._timing)
        request = self._http.build_request("GET", url, headers=self.endpoint.download_headers(url))
        response = yield from plans.send(
            request, self.retry, self._timing, idempotent=True, stream=True
        )
        return url, response

    @staticmethod
    def _target(
        path: str | Path, url: str, response: httpx.Response, on_progress: ProgressCallback | None
    ) -> DownloadTarget:
        total = content_length(response.headers)
        return DownloadTarget(Path(path), url=url, total=total, on_progress=on_progress)


class PlanRun(Generic[T]):
    """The state of one plan being carried out: what to send it next, and the streamed answer
    that must be closed unless it becomes the result."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self._outcome: Any = None
        self._failure: httpx.TransportError | None = None
        self.streaming: httpx.Response | None = None

    def next_step(self) -> tuple[Step, httpx.Response | None]:
        """The plan's next step, and a streamed answer it moved on from (the caller closes it).
        Raises ``StopIteration`` carrying the plan's result."""
        if self._failure is None:
            step = self._plan.send(self._outcome)
        else:
            step = self._plan.throw(self._failure)
        self._outcome, self._failure = None, None
        stale, self.streaming = self.streaming, None
        return step, stale

    def answered(self, response: httpx.Response, *, stream: bool) -> None:
        self._outcome = response
        if stream:
            self.streaming = response

    def failed(self, exc: httpx.TransportError) -> None:
        self._failure = exc
