"""Webhook delivery end to end: real receivers on loopback, signatures checked with the public
standardwebhooks package, retries, 410, redirects, and two dispatchers at once."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from opendance.db import deliveries as delivery_rows
from opendance.net.addresses import AddressPolicy
from opendance.services.context import AppContext
from opendance.services.webhook_secrets import show_secret
from tests.conftest import make_settings
from tests.support.live import LiveServer, wait_for_status
from tests.support.receivers import Receiver


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[LiveServer]:
    # Receivers on 127.0.0.1 play public servers: only that address is carved out.
    settings = make_settings(tmp_path, webhook_retry_schedule="0.2s,0.2s,0.2s")
    live = LiveServer(settings, policy=AddressPolicy.default(allow=["127.0.0.1/32"])).start()
    yield live
    live.stop()


def _submit(live: LiveServer, key: str, **body: Any) -> tuple[str, dict[str, Any]]:
    with live.client(key) as client:
        created = client.post(
            "/v1/generate", json={"prompt": "hook me", "resolution": "480p", "duration": 4, **body}
        )
        assert created.status_code == 200, created.json()
        task_id = created.json()["data"]["task_id"]
        wait_for_status(client, task_id)
        return task_id, client.get("/v1/status", params={"task_id": task_id}).json()


def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _deliveries(live: LiveServer, task_id: str) -> list[delivery_rows.Delivery]:
    async def read(ctx: AppContext) -> list[delivery_rows.Delivery]:
        async with ctx.db.read() as conn:
            return await delivery_rows.deliveries_of_task(conn, task_id)

    return live.call(read)


def _attempts(live: LiveServer, delivery_id: str) -> list[dict[str, Any]]:
    async def read(ctx: AppContext) -> list[dict[str, Any]]:
        async with ctx.db.read() as conn:
            return await delivery_rows.attempts_of(conn, delivery_id)

    return live.call(read)


def test_success_webhook_is_the_status_body_and_verifies(hooked: LiveServer) -> None:
    receiver = Receiver().start()
    try:
        key = hooked.create_account("hooked", 100)
        task_id, status = _submit(hooked, key, callback_url=receiver.url)
        _wait(lambda: receiver.received)
        headers, body = receiver.received[0]
        secret = hooked.call(lambda c: show_secret(c, "hooked")).current
        assert Webhook(secret).verify(body, headers) == status
        assert status["data"]["status"] == "SUCCESS"
        _wait(lambda: _deliveries(hooked, task_id)[0].status == "delivered")
        delivery = _deliveries(hooked, task_id)[0]
        assert headers["webhook-id"] == delivery.id
        attempts = _attempts(hooked, delivery.id)
        assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 200)]
    finally:
        receiver.stop()


def test_failure_webhook_carries_the_failed_status(hooked: LiveServer) -> None:
    receiver = Receiver().start()
    try:
        key = hooked.create_account("sad", 100)
        junk = base64.b64encode(b"not an image at all" * 5).decode()
        _, status = _submit(
            hooked, key, callback_url=receiver.url, image_urls=[f"data:image/png;base64,{junk}"]
        )
        _wait(lambda: receiver.received)
        assert json.loads(receiver.received[0][1]) == status
        assert status["data"]["status"] == "FAILED" and status["data"]["consumed_credits"] == 0
    finally:
        receiver.stop()


def test_receiver_down_then_up_gets_it_once_with_a_stable_id(hooked: LiveServer) -> None:
    receiver = Receiver(answers=[503, 500, 200]).start()
    try:
        key = hooked.create_account("patient", 100)
        task_id, status = _submit(hooked, key, callback_url=receiver.url)
        _wait(lambda: _deliveries(hooked, task_id)[0].status == "delivered")
        assert [r[0]["webhook-id"] for r in receiver.received] == [
            _deliveries(hooked, task_id)[0].id
        ] * 3
        assert len({r[0]["webhook-timestamp"] for r in receiver.received}) >= 1
        codes = [a["status_code"] for a in _attempts(hooked, receiver.received[0][0]["webhook-id"])]
        assert codes == [503, 500, 200]
        # a webhook failure never touches the task or its credits
        with hooked.client(key) as client:
            again = client.get("/v1/status", params={"task_id": task_id}).json()
        assert again == status
    finally:
        receiver.stop()


def test_410_stops_and_redirects_are_not_followed(hooked: LiveServer) -> None:
    gone = Receiver(answers=[410]).start()
    sink = Receiver().start()
    moved = Receiver(answers=[302], headers={"Location": sink.url}).start()
    try:
        key = hooked.create_account("picky", 100)
        gone_task, _ = _submit(hooked, key, callback_url=gone.url)
        moved_task, _ = _submit(hooked, key, callback_url=moved.url)
        _wait(lambda: _deliveries(hooked, gone_task)[0].status == "stopped")
        _wait(lambda: _deliveries(hooked, moved_task)[0].status == "failed")
        assert len(gone.received) == 1
        assert len(moved.received) == 4  # the first attempt and three retries
        assert sink.received == []
        last = _deliveries(hooked, moved_task)[0]
        assert last.last_status_code == 302 and "redirects are not followed" in (
            last.last_error or ""
        )
    finally:
        for receiver in (gone, sink, moved):
            receiver.stop()


async def test_two_dispatchers_never_send_the_same_attempt_twice(settings: Any) -> None:
    import asyncio

    from opendance.bootstrap import open_context
    from opendance.services.webhook_dispatch import Dispatcher
    from tests.support.factories import account_with_key, submit

    receiver = Receiver().start()
    ctx = await open_context(settings, policy=AddressPolicy.default(allow=["127.0.0.1/32"]))
    try:
        owner = await account_with_key(ctx, "busy")
        ids = [await submit(ctx, owner) for _ in range(20)]
        async with ctx.db.write() as conn:
            for i, task_id in enumerate(ids):
                await delivery_rows.enqueue(
                    conn,
                    delivery_id=f"msg_{i}",
                    task_id=task_id,
                    account_id=owner.account_id,
                    url=receiver.url,
                    payload="{}",
                )
        one, two = Dispatcher(ctx, owner="one", batch=3), Dispatcher(ctx, owner="two", batch=3)
        for _ in range(10):
            await asyncio.gather(one.dispatch_due(), two.dispatch_due())
        sent = [headers["webhook-id"] for headers, _ in receiver.received]
        assert sorted(sent) == sorted(f"msg_{i}" for i in range(20))
        for i in range(20):
            async with ctx.db.read() as conn:
                assert len(await delivery_rows.attempts_of(conn, f"msg_{i}")) == 1
    finally:
        await ctx.close()
        receiver.stop()


def test_deliveries_are_listed_per_account_and_can_be_redelivered(hooked: LiveServer) -> None:
    from tests.support.processes import cli, cli_json

    receiver = Receiver(answers=[410]).start()
    try:
        key = hooked.create_account("owner", 100)
        other = hooked.create_account("stranger", 100)
        task_id, _ = _submit(hooked, key, callback_url=receiver.url)
        _wait(lambda: _deliveries(hooked, task_id)[0].status == "stopped")
        with hooked.client(key) as client, hooked.client(other) as stranger:
            mine = client.get("/v1/webhooks/deliveries", params={"task_id": task_id}).json()
            theirs = stranger.get("/v1/webhooks/deliveries", params={"task_id": task_id}).json()
        assert theirs["data"] == {"deliveries": []}
        (delivery,) = mine["data"]["deliveries"]
        assert delivery["status"] == "stopped"
        assert [a["status_code"] for a in delivery["attempts"]] == [410]

        data_dir = hooked.settings.data_dir
        listed = cli_json(data_dir, "webhooks", "deliveries", "--task", task_id)
        assert [d["id"] for d in listed] == [delivery["id"]]
        receiver.answers[:] = [200]
        cli(data_dir, "webhooks", "redeliver", delivery["id"])
        _wait(lambda: _deliveries(hooked, task_id)[0].status == "delivered")
        assert [r[0]["webhook-id"] for r in receiver.received] == [delivery["id"]] * 2
        missing = cli(data_dir, "webhooks", "redeliver", "msg_nope", check=False)
        assert missing.returncode == 1 and "no webhook delivery" in missing.stderr
    finally:
        receiver.stop()


def test_503_with_retry_after_waits_at_least_that_long(hooked: LiveServer) -> None:
    receiver = Receiver(answers=[503, 200], headers={"Retry-After": "2"}).start()
    try:
        key = hooked.create_account("throttled", 100)
        task_id, _ = _submit(hooked, key, callback_url=receiver.url)
        _wait(lambda: _deliveries(hooked, task_id)[0].status == "delivered")
        attempts = _attempts(hooked, _deliveries(hooked, task_id)[0].id)
        gap = (attempts[1]["started_at"] - attempts[0]["started_at"]).total_seconds()
        assert [a["status_code"] for a in attempts] == [503, 200]
        assert gap >= 2.0  # the schedule says 0.2 s; the receiver asked for 2 s
    finally:
        receiver.stop()
