"""Webhook delivery re-checks its URL at send time: a callback_url that was public at submit but
now leads inside (DNS changed, or a row written by other means) is refused, and a sink listener
proves that no connection was made. Also: a receiver that never answers times out without
holding up the other deliveries."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from opendance.bootstrap import open_context
from opendance.db import deliveries as delivery_rows
from opendance.net import AddressPolicy, StaticResolver
from opendance.services.context import AppContext
from opendance.services.webhook_dispatch import Dispatcher
from opendance.settings import Settings
from tests.net.servers import ConnectionSink
from tests.net.test_ssrf_matrix import HOSTILE_URLS, _url
from tests.support.factories import account_with_key, submit
from tests.support.receivers import Receiver


@pytest.fixture
async def ctx(
    settings: Settings, policy: AddressPolicy, resolver: StaticResolver
) -> AsyncIterator[AppContext]:
    context = await open_context(
        settings.model_copy(
            update={"webhook_retry_schedule": "1h", "webhook_timeout_seconds": 1.0}
        ),
        policy=policy,
        resolver=resolver,
    )
    yield context
    await context.close()


async def test_hostile_callback_urls_are_refused_at_delivery_time(
    ctx: AppContext, sink: ConnectionSink, sink6: ConnectionSink
) -> None:
    owner = await account_with_key(ctx, "rebinder")
    urls = [_url(template, sink, sink6) for _, template in HOSTILE_URLS]
    assert len(urls) >= 40
    for i, url in enumerate(urls):
        task_id = await submit(ctx, owner)
        async with ctx.db.write() as conn:
            await delivery_rows.enqueue(
                conn,
                delivery_id=f"msg_{i}",
                task_id=task_id,
                account_id=owner.account_id,
                url=url,
                payload="{}",
            )
    dispatcher = Dispatcher(ctx, owner="d", batch=200)
    assert await dispatcher.dispatch_due() == len(urls)
    async with ctx.db.read() as conn:
        found = await delivery_rows.list_deliveries(conn, limit=1000)
    assert len(found) == len(urls)
    assert all(d.status == "pending" and d.attempts == 1 for d in found)
    assert all(d.last_status_code is None and d.last_error for d in found)
    assert sink.connections() == 0
    assert sink6.connections() == 0


async def test_a_silent_receiver_times_out_without_blocking_others(ctx: AppContext) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    good = Receiver(answers=[204]).start()
    try:
        owner = await account_with_key(ctx, "mixed")
        targets = {
            "msg_silent": f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
            "msg_good": good.url,
        }
        for delivery_id, url in targets.items():
            task_id = await submit(ctx, owner)
            async with ctx.db.write() as conn:
                await delivery_rows.enqueue(
                    conn,
                    delivery_id=delivery_id,
                    task_id=task_id,
                    account_id=owner.account_id,
                    url=url,
                    payload="{}",
                )
        started = asyncio.get_running_loop().time()
        await Dispatcher(ctx, owner="d").dispatch_due()
        elapsed = asyncio.get_running_loop().time() - started
        async with ctx.db.read() as conn:
            by_id = {d.id: d for d in await delivery_rows.list_deliveries(conn)}
        assert good.webhook_ids == ["msg_good"]
        assert by_id["msg_good"].status == "delivered"
        assert by_id["msg_silent"].status == "pending" and by_id["msg_silent"].last_error
        assert elapsed < 5  # the 1 s timeout, not forever
    finally:
        silent.close()
        good.stop()
