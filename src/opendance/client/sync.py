"""``Client``: the blocking SDK. Its logic lives in ``plans``; this class carries out the steps."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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

T = TypeVar("T")

DEFAULT_WAIT_TIMEOUT = 600.0
CHUNK_BYTES = 64 * 1024


class Client:
    """A client of the Opendance / Seedance 2.0 API.

    ``base_url`` and ``api_key`` default to ``OPENDANCE_BASE_URL`` and ``OPENDANCE_API_KEY``.
    ``transport`` replaces the network (e.g. ``httpx.MockTransport`` in tests); ``sleep``,
    ``clock`` and ``random`` replace time and chance, so tests of waits need not wait.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        polling: PollPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.endpoint = Endpoint.resolve(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self.polling = polling or PollPolicy()
        self._timing = Timing(clock=clock, random=random)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.endpoint.base_url,
            headers={"User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,
        )
        self._build = plans.with_headers(self._http.build_request, self.endpoint.api_headers())

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    def generate(self, prompt: str, **options: Unpack[GenerateOptions]) -> Submitted:
        """Create a task (``POST /v1/generate``); its price is charged at once."""
        body = generate_request(prompt, options)
        return self._run(plans.generate(self._build, body, self.retry, self._timing))

    def status(self, task_id: str) -> Task:
        """The task as it stands now (``GET /v1/status``)."""
        return self._run(plans.status(self._build, task_id, self.retry, self._timing))

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
        if is_url(task_id_or_url):
            url = task_id_or_url
        else:
            build = self._build
            url = self._run(plans.video_url(build, task_id_or_url, self.retry, self._timing))
        request = self._http.build_request("GET", url, headers=self.endpoint.download_headers(url))
        response = self._run(
            plans.send(request, self.retry, self._timing, idempotent=True, stream=True)
        )
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            total = content_length(response.headers)
            with DownloadTarget(Path(path), url=url, total=total, on_progress=on_progress) as f:
                try:
                    for chunk in response.iter_bytes(chunk_size):
                        f.write(chunk)
                except httpx.TransportError as exc:
                    raise broken_download(url, exc) from exc
            return f.path
        finally:
            response.close()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's steps with blocking I/O."""
        outcome: Any = None
        failure: httpx.TransportError | None = None
        streaming: httpx.Response | None = None
        try:
            while True:
                step = plan.send(outcome) if failure is None else plan.throw(failure)
                outcome, failure = None, None
                if streaming is not None:  # the plan moved on: that answer is not the result
                    streaming.close()
                    streaming = None
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    continue
                try:
                    outcome = self._http.send(step.request, stream=step.stream)
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
                streaming.close()
            raise
