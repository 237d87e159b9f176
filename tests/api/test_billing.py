"""Credits: the price table, the conditional debit under concurrency, and the ledger."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from opendance.domain.pricing import PRICES
from opendance.services.context import AppContext
from tests.api.test_generate_validation import assert_error
from tests.support.db import balance, ledger_consistent, snapshot
from tests.support.live import LiveServer

# The contract's table, written out again on purpose: the test must not read the code's table.
CONTRACT_PRICES = {
    ("480p", 4, False): 8,
    ("480p", 8, False): 14,
    ("480p", 12, False): 19,
    ("480p", 4, True): 14,
    ("480p", 8, True): 28,
    ("480p", 12, True): 38,
    ("720p", 4, False): 14,
    ("720p", 8, False): 28,
    ("720p", 12, False): 42,
    ("720p", 4, True): 28,
    ("720p", 8, True): 56,
    ("720p", 12, True): 84,
}


def test_price_table_matches_the_contract() -> None:
    assert PRICES == CONTRACT_PRICES


@pytest.mark.parametrize(("resolution", "duration", "audio"), sorted(CONTRACT_PRICES))
def test_generate_charges_the_contract_price(
    api_only_server: LiveServer, resolution: str, duration: int, audio: bool
) -> None:
    key = api_only_server.create_account("payer", 100)
    with api_only_server.client(key) as client:
        created = client.post(
            "/v1/generate",
            json={
                "prompt": "price check",
                "resolution": resolution,
                "duration": str(duration),
                "generate_audio": audio,
            },
        )
        assert created.status_code == 200
        task_id = created.json()["data"]["task_id"]
        status = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
    price = CONTRACT_PRICES[(resolution, duration, audio)]
    assert status["consumed_credits"] == price
    assert api_only_server.call(lambda c: balance(c, "payer")) == 100 - price
    assert api_only_server.call(ledger_consistent)


def test_insufficient_credits_is_402_and_changes_nothing(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("poor", 27)
    before = api_only_server.call(snapshot)
    with api_only_server.client(key) as client:
        response = client.post(
            "/v1/generate", json={"prompt": "x", "resolution": "720p", "duration": 8}
        )
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    assert "28" in response.json()["message"] and "27" in response.json()["message"]
    assert api_only_server.call(snapshot) == before


def test_validation_comes_before_the_credit_check(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("broke", 0)
    with api_only_server.client(key) as client:
        assert_error(
            client.post("/v1/generate", json={"prompt": "x", "duration": 7}),
            400,
            "INVALID_DURATION",
        )


def test_concurrent_requests_never_overdraw(api_only_server: LiveServer) -> None:
    """30 requests at once with credits for exactly 5: 5 accepted, the rest 402, balance 0."""
    key = api_only_server.create_account("racer", 5 * 8)
    barrier = threading.Barrier(30)
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(
            base_url=api_only_server.url, timeout=60, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            barrier.wait()
            response = client.post(
                "/v1/generate", json={"prompt": "race", "resolution": "480p", "duration": 4}
            )
            with lock:
                results.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 5 + [402] * 25
    assert api_only_server.call(lambda c: balance(c, "racer")) == 0
    state = api_only_server.call(snapshot)
    assert state["tasks"] == 5
    assert api_only_server.call(ledger_consistent)


def test_inline_image_without_credits_is_402_and_stores_nothing(
    api_only_server: LiveServer,
) -> None:
    import base64

    from tests.support.media import png_bytes

    key = api_only_server.create_account("no-money", 0)
    image = base64.b64encode(png_bytes((1, 2, 3), (2000, 2000))).decode()
    with api_only_server.client(key) as client:
        response = client.post(
            "/v1/generate",
            json={"prompt": "x", "image_urls": [f"data:image/png;base64,{image}"]},
        )
    assert_error(response, 402, "INSUFFICIENT_CREDITS")
    inputs = api_only_server.settings.objects_dir / "inputs"
    assert not inputs.exists() or list(inputs.iterdir()) == []


def test_rejected_requests_do_not_touch_the_key(api_only_server: LiveServer) -> None:
    from sqlalchemy import select

    from opendance.db.tables import api_keys

    key = api_only_server.create_account("untouched", 100)
    with api_only_server.client(key) as client:
        assert client.post("/v1/generate", json={"prompt": ""}).status_code == 400
        assert client.get("/v1/status").status_code == 400

    async def last_used(ctx: AppContext) -> object:
        async with ctx.db.read() as conn:
            return (await conn.execute(select(api_keys.c.last_used_at))).scalar_one()

    assert api_only_server.call(last_used) is None
    with api_only_server.client(key) as client:
        assert client.post("/v1/generate", json={"prompt": "ok", "duration": 4}).status_code == 200
    deadline = time.monotonic() + 5
    while api_only_server.call(last_used) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api_only_server.call(last_used) is not None
