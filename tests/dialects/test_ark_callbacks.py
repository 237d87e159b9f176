"""An Ark task's ``callback_url`` receives the Ark task object when the task ends, signed like
every webhook here (checked with the public standardwebhooks package)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from opendance.db import deliveries as delivery_rows
from opendance.net.addresses import AddressPolicy
from opendance.services.context import AppContext
from opendance.services.webhook_secrets import show_secret
from tests.conftest import make_settings
from tests.support.ark import ark_client, text, wait_until
from tests.support.live import LiveServer
from tests.support.receivers import Receiver


def _server(tmp_path: Path, *, with_worker: bool) -> LiveServer:
    # receivers on 127.0.0.1 play public servers: only that address is carved out
    settings = make_settings(tmp_path, webhook_retry_schedule="0.2s,0.2s")
    policy = AddressPolicy.default(allow=["127.0.0.1/32"])
    return LiveServer(settings, policy=policy, with_worker=with_worker).start()


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[LiveServer]:
    live = _server(tmp_path, with_worker=True)
    yield live
    live.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _wait(predicate: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _verified(live: LiveServer, account: str, receiver: Receiver) -> Any:
    headers, body = receiver.received[0]
    secret = live.call(lambda ctx: show_secret(ctx, account)).current
    return Webhook(secret).verify(body, headers)


def test_a_succeeded_task_posts_its_task_object(hooked: LiveServer, receiver: Receiver) -> None:
    ark = ark_client(hooked, hooked.create_account("hooked", 100))
    created = ark.content_generation.tasks.create(
        model="hook-model",
        content=text("a kite"),
        resolution="480p",
        callback_url=receiver.url,
    )
    polled = wait_until(ark, created.id)
    _wait(lambda: receiver.received)
    delivered = _verified(hooked, "hooked", receiver)
    assert delivered == polled.model_dump(exclude_none=True) | {"error": None}
    assert delivered["status"] == "succeeded" and delivered["model"] == "hook-model"
    assert delivered["content"]["video_url"] == polled.content.video_url


def test_a_failed_task_posts_its_error(hooked: LiveServer, receiver: Receiver) -> None:
    ark = ark_client(hooked, hooked.create_account("sad", 100))
    junk = "data:image/png;base64," + base64.b64encode(b"not an image at all" * 5).decode()
    created = ark.content_generation.tasks.create(
        model="m",
        content=[*text("a kite"), {"type": "image_url", "image_url": {"url": junk}}],
        resolution="480p",
        callback_url=receiver.url,
    )
    assert wait_until(ark, created.id).status == "failed"
    _wait(lambda: receiver.received)
    delivered = json.loads(receiver.received[0][1])
    assert delivered["status"] == "failed" and delivered["content"] is None
    assert delivered["error"]["code"] == "InvalidParameter"
    assert "first_frame" in delivered["error"]["message"]


def test_a_cancelled_task_queues_its_task_object(tmp_path: Path) -> None:
    # no worker, so the task stays queued until deleted (and no dispatcher sends the outbox)
    live = _server(tmp_path, with_worker=False)
    try:
        ark = ark_client(live, live.create_account("quitter", 100))
        created = ark.content_generation.tasks.create(
            model="m", content=text("a kite"), callback_url="http://127.0.0.1:9/hook"
        )
        ark.content_generation.tasks.delete(created.id)

        async def outbox(ctx: AppContext) -> list[delivery_rows.Delivery]:
            async with ctx.db.read() as conn:
                return await delivery_rows.deliveries_of_task(conn, created.id)

        (delivery,) = live.call(outbox)
        shown = ark.content_generation.tasks.get(task_id=created.id)
        assert json.loads(delivery.payload) == shown.model_dump(exclude_none=True) | {
            "error": None,
            "content": None,
            "usage": None,
        }
        assert shown.status == "cancelled"
    finally:
        live.stop()
