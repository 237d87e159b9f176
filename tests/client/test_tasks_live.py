"""The SDK's list, cancel and retried generate against a real server on loopback, with no
worker: tasks stay queued until they are cancelled."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Literal

import httpx
import pytest

from opendance.client import (
    AsyncClient,
    Client,
    RetryPolicy,
    TaskNotCancellable,
    TaskNotFound,
    TaskStatus,
)
from opendance.services.admin import credit_report
from opendance.services.tasks import CANCELLED_MESSAGE
from tests.support.db import balance, snapshot
from tests.support.live import LiveServer

Loss = Literal["timeout", "bad gateway"]
FAST_RETRY = RetryPolicy(backoff=0.05)


class LosingTransport(httpx.BaseTransport):
    """The network between client and server: every request reaches the server, but the
    answer to the first ``POST /v1/generate`` is lost after the server has sent it — a timeout
    on the way back, or a proxy that answers 502 in its place. (Each generate here is 480p, 4 s:
    8 credits.)"""

    def __init__(self, loss: Loss) -> None:
        self._network = httpx.HTTPTransport()
        self._loss = loss
        self.sent: list[httpx.Request] = []
        self.lost: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self._network.handle_request(request)
        if request.url.path != "/v1/generate" or self.lost:
            return response
        response.read()  # the server has answered in full: its task exists
        response.close()
        self.lost.append(response)
        if self._loss == "timeout":
            raise httpx.ReadTimeout("the answer never came back", request=request)
        return httpx.Response(502, text="<html>502 Bad Gateway</html>", request=request)

    def close(self) -> None:
        self._network.close()


class AsyncLosingTransport(httpx.AsyncBaseTransport):
    """``LosingTransport`` for ``AsyncClient``."""

    def __init__(self) -> None:
        self._network = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self._network.handle_async_request(request)
        if request.url.path != "/v1/generate" or self.lost:
            return response
        await response.aread()
        await response.aclose()
        self.lost += 1
        raise httpx.ReadTimeout("the answer never came back", request=request)

    async def aclose(self) -> None:
        await self._network.aclose()


class CountingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._network = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self._network.handle_request(request)

    def close(self) -> None:
        self._network.close()


@pytest.mark.parametrize("loss", ["timeout", "bad gateway"])
def test_a_generate_whose_answer_was_lost_is_retried_into_one_task_and_one_charge(
    api_only_server: LiveServer, loss: Loss
) -> None:
    key = api_only_server.create_account("unlucky", 100)
    network = LosingTransport(loss)
    with Client(api_only_server.url, key, transport=network, retry=FAST_RETRY) as client:
        submitted = client.generate("a lighthouse in fog", resolution="480p", duration=4)
        listed = list(client.list())
    assert len(network.lost) == 1 and len(network.sent) == 3  # generate twice, list once
    first, retry = network.sent[:2]
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert first.content == retry.content
    assert [task.task_id for task in listed] == [submitted.task_id]
    assert api_only_server.call(lambda c: balance(c, "unlucky")) == 100 - 8
    report = api_only_server.call(lambda c: credit_report(c, "unlucky"))
    assert Counter(entry.kind for entry in report.ledger)["charge"] == 1


async def test_the_async_client_retries_a_lost_generate_the_same_way(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("unlucky-async", 100)
    network = AsyncLosingTransport()
    async with AsyncClient(api_only_server.url, key, transport=network, retry=FAST_RETRY) as client:
        submitted = await client.generate("a lighthouse in fog", resolution="480p", duration=4)
        listed = [task.task_id async for task in client.list()]
    assert network.lost == 1 and listed == [submitted.task_id]
    assert api_only_server.call(lambda c: balance(c, "unlucky-async")) == 100 - 8
    assert api_only_server.call(snapshot)["tasks"] == 1


def test_list_pages_through_every_task_newest_first(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("lister", 100)
    api_only_server.create_account("someone-else", 100)
    network = CountingTransport()
    with Client(api_only_server.url, key, transport=network) as client:
        made = [
            client.generate(f"scene {n}", resolution="480p", duration=4).task_id for n in range(5)
        ]
        network.sent.clear()
        listed = list(client.list(limit=2))
        assert [task.task_id for task in listed] == made[::-1]
        assert all(task.status is TaskStatus.IN_PROGRESS for task in listed)
        assert listed[0].request["prompt"] == "scene 4" and listed[0].consumed_credits == 8
        pages = [request.url.params for request in network.sent]
        assert [p.get("after") for p in pages] == [None, made[3], made[1]]
        assert {p["limit"] for p in pages} == {"2"}

        network.sent.clear()
        assert [t.task_id for t in itertools.islice(client.list(limit=2), 3)] == made[:1:-1]
        assert len(network.sent) == 2  # the third page was never asked for

        client.cancel(made[2])
        assert [t.task_id for t in client.list("FAILED")] == [made[2]]
        in_progress = client.list(TaskStatus.IN_PROGRESS, limit=100)
        assert [t.task_id for t in in_progress] == [made[4], made[3], made[1], made[0]]
        assert list(client.list(TaskStatus.SUCCESS)) == []
        with pytest.raises(ValueError, match="DONE"):
            client.list("DONE")
    with Client(api_only_server.url, api_only_server.create_account("empty", 0)) as other:
        assert list(other.list()) == []


def test_cancel_refunds_a_queued_task_once(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("canceller", 100)
    with Client(api_only_server.url, key) as client:
        task_id = client.generate("a long wait", resolution="720p", duration=8).task_id
        assert api_only_server.call(lambda c: balance(c, "canceller")) == 100 - 28
        cancelled = client.cancel(task_id)
        assert cancelled.task_id == task_id and cancelled.failed
        assert cancelled.consumed_credits == 0 and cancelled.error_message == CANCELLED_MESSAGE
        assert client.status(task_id) == cancelled
        with pytest.raises(TaskNotCancellable) as again:
            client.cancel(task_id)
        assert again.value.status_code == 409 and task_id in again.value.message
        with pytest.raises(TaskNotFound):
            client.cancel("task_doesnotexist")
    assert api_only_server.call(lambda c: balance(c, "canceller")) == 100
    report = api_only_server.call(lambda c: credit_report(c, "canceller"))
    assert Counter(entry.kind for entry in report.ledger)["refund"] == 1


async def test_the_async_client_cancels_too(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("async-canceller", 100)
    async with AsyncClient(api_only_server.url, key) as client:
        task_id = (await client.generate("soon gone", resolution="480p", duration=4)).task_id
        cancelled = await client.cancel(task_id)
        assert cancelled.failed and cancelled.consumed_credits == 0
        with pytest.raises(TaskNotCancellable):
            await client.cancel(task_id)
    assert api_only_server.call(lambda c: balance(c, "async-canceller")) == 100
