"""Rate limits that more keys or bad keys cannot get around: all keys of an account share one
allowance, and an address that keeps failing authentication is refused before its keys are
even looked up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendance.services import admin
from opendance.services.context import AppContext
from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support.live import LiveServer


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        rate_limit_per_minute=100,
        account_rate_limit_per_minute=4,
        auth_failures_per_minute=3,
    )
    live = LiveServer(settings, with_worker=False).start()
    yield live
    live.stop()


def _status(client: httpx.Client) -> httpx.Response:
    return client.get("/v1/status", params={"task_id": "task_none"})


def _second_key(live: LiveServer, account: str) -> str:
    async def make(ctx: AppContext) -> str:
        return (await admin.create_key(ctx, account, "second")).secret

    return live.call(make)


def test_all_keys_of_an_account_share_its_limit(limited: LiveServer) -> None:
    first = limited.create_account("minter", 100)
    second = _second_key(limited, "minter")
    bystander = limited.create_account("bystander", 100)
    with (
        limited.client(first) as one,
        limited.client(second) as two,
        limited.client(bystander) as other,
    ):
        codes = [_status(client).status_code for client in (one, two, one, two)]
        assert codes == [404, 404, 404, 404]  # four requests, two keys: the account's four
        over = _status(two)
        assert_error(over, 429, "RATE_LIMITED")
        assert int(over.headers["Retry-After"]) >= 1
        assert "account" in over.json()["message"]
        assert_error(one.post("/v1/generate", json={"prompt": "x"}), 429, "RATE_LIMITED")
        # another account has its own allowance
        assert _status(other).status_code == 404


def test_failed_authentication_is_limited_per_address_before_any_lookup(
    limited: LiveServer,
) -> None:
    good = limited.create_account("innocent", 100)
    lookups = _count_key_lookups(limited)
    bad = {"Authorization": "Bearer od_not_a_key"}
    with limited.client() as client:
        failures = [
            client.get("/v1/status", params={"task_id": "x"}, headers=bad),
            client.post("/v1/generate", json={"prompt": "x"}, headers=bad),
            client.get("/v1/webhooks/deliveries"),  # no key at all fails too
        ]
        assert [r.status_code for r in failures] == [401, 401, 401]
        looked_up = len(lookups)
        refused = [
            client.get("/v1/status", params={"task_id": "x"}, headers=bad),
            client.post("/v1/generate", json={"prompt": "x"}, headers=bad),
            # a good key from the same address waits too: the address is what is limited
            client.get("/v1/status", params={"task_id": "x"}, headers=_bearer(good)),
        ]
    for response in refused:
        assert_error(response, 429, "RATE_LIMITED")
        assert int(response.headers["Retry-After"]) >= 1
        assert "failed" in response.json()["message"]
    assert len(lookups) == looked_up  # refused before the database was asked


def test_successful_requests_do_not_count_as_failures(limited: LiveServer) -> None:
    good = limited.create_account("steady", 100)
    bad = {"Authorization": "Bearer od_not_a_key"}
    with limited.client() as client:
        for _ in range(2):
            assert client.get("/v1/status", params={"task_id": "x"}, headers=bad).status_code == 401
        # four good requests (the account's allowance) leave the failure count where it was
        for _ in range(4):
            assert _status_with(client, good).status_code == 404
        assert client.get("/v1/status", params={"task_id": "x"}, headers=bad).status_code == 401


def _status_with(client: httpx.Client, key: str) -> httpx.Response:
    return client.get("/v1/status", params={"task_id": "x"}, headers=_bearer(key))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _count_key_lookups(live: LiveServer) -> list[str]:
    """Record every key lookup of the server's hot reads (the real ones still run)."""
    assert live.ctx is not None
    reads: Any = live.ctx.reads
    seen: list[str] = []
    for name in ("key_owner", "key_owner_and_task"):
        original = getattr(reads, name)

        async def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            seen.append(_name)
            return await _original(*args)

        setattr(reads, name, counted)
    return seen
