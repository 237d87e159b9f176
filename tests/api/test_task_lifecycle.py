"""The Seedance door's extensions: list, cancel and Idempotency-Key; and retention."""

from __future__ import annotations

import concurrent.futures
import json
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from opendance.db.tables import tasks as task_table
from opendance.services import tasks
from opendance.services.context import AppContext
from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support.db import balance, ledger_consistent, snapshot
from tests.support.live import LiveServer, generate, wait_for_status
from tests.support.processes import cli

BODY = {"prompt": "a lighthouse at dusk", "resolution": "480p", "duration": 4}
PRICE = 8  # 480p, 4 s, no audio


def _ago(delta: timedelta) -> datetime:
    return datetime.now(UTC) - delta


def _idempotent(client: httpx.Client, key: str, body: dict[str, object]) -> httpx.Response:
    return client.post("/v1/generate", json=body, headers={"Idempotency-Key": key})


def test_tasks_list_newest_first_in_pages_to_the_last(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("lister", 1000)
    with api_only_server.client(key) as client:
        made = [generate(client, **BODY, seed=n) for n in range(5)]
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            params = {"limit": 2} | ({"after": after} if after else {})
            data = client.get("/v1/tasks", params=params).json()["data"]
            pages += 1
            seen += [task["task_id"] for task in data["tasks"]]
            assert all(task["status"] == "IN_PROGRESS" for task in data["tasks"])
            if not data["has_more"]:
                break
            after = data["last_id"]
    assert seen == made[::-1] and pages == 3


def test_tasks_list_filters_by_status_and_refuses_bad_queries(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("filter", 1000)
    with api_only_server.client(key) as client:
        kept = generate(client, **BODY)
        cancelled = generate(client, **BODY)
        assert client.post("/v1/cancel", json={"task_id": cancelled}).status_code == 200
        failed = client.get("/v1/tasks", params={"status": "FAILED"}).json()["data"]["tasks"]
        running = client.get("/v1/tasks", params={"status": "IN_PROGRESS"}).json()["data"]
        assert [task["task_id"] for task in failed] == [cancelled]
        assert [task["task_id"] for task in running["tasks"]] == [kept]
        assert_error(client.get("/v1/tasks", params={"status": "DONE"}), 400, "INVALID_REQUEST")
        assert_error(client.get("/v1/tasks", params={"limit": "0"}), 400, "INVALID_REQUEST")
        assert_error(client.get("/v1/tasks", params={"limit": "101"}), 400, "INVALID_REQUEST")
        assert_error(client.get("/v1/tasks", params={"after": "task_x"}), 400, "INVALID_REQUEST")


def test_cancel_refunds_once_and_reads_failed(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("canceller", 100)
    with api_only_server.client(key) as client:
        task_id = generate(client, **BODY)
        assert api_only_server.call(partial(balance, name="canceller")) == 100 - PRICE
        answer = client.post("/v1/cancel", json={"task_id": task_id})
        assert answer.status_code == 200
        data = answer.json()["data"]
        assert data["status"] == "FAILED" and data["consumed_credits"] == 0
        assert data["error_message"] == tasks.CANCELLED_MESSAGE
        assert client.get("/v1/status", params={"task_id": task_id}).json()["data"] == data
        again = client.post("/v1/cancel", json={"task_id": task_id})
        assert_error(again, 409, "TASK_NOT_CANCELLABLE")
        assert_error(client.post("/v1/cancel", json={}), 400, "INVALID_REQUEST")
        assert_error(
            client.post("/v1/cancel", json={"task_id": "task_nope"}), 404, "TASK_NOT_FOUND"
        )
    assert api_only_server.call(partial(balance, name="canceller")) == 100
    assert api_only_server.call(ledger_consistent)


def test_another_account_sees_nothing(api_only_server: LiveServer) -> None:
    owner_key = api_only_server.create_account("owner", 100)
    other_key = api_only_server.create_account("other", 100)
    with api_only_server.client(owner_key) as owner:
        task_id = _idempotent(owner, "shared-key", BODY).json()["data"]["task_id"]
    with api_only_server.client(other_key) as other:
        assert other.get("/v1/tasks").json()["data"] == {
            "tasks": [],
            "has_more": False,
            "last_id": None,
        }
        assert_error(other.post("/v1/cancel", json={"task_id": task_id}), 404, "TASK_NOT_FOUND")
        assert_error(other.get("/v1/tasks", params={"after": task_id}), 400, "INVALID_REQUEST")
        # the same Idempotency-Key in two accounts is two keys
        theirs = _idempotent(other, "shared-key", BODY)
    assert theirs.status_code == 200 and theirs.json()["data"]["task_id"] != task_id


def test_idempotency_key_replays_the_answer_and_charges_once(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("retrier", 100)
    with api_only_server.client(key) as client:
        first = _idempotent(client, "order-42", BODY)
        # the same body in another key order and spacing is the same request
        again = client.post(
            "/v1/generate",
            content=b'{"duration": 4, "resolution": "480p", "prompt": "a lighthouse at dusk"}',
            headers={"Idempotency-Key": "order-42", "Content-Type": "application/json"},
        )
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        before = api_only_server.call(snapshot)
        changed = _idempotent(client, "order-42", BODY | {"duration": 8})
        assert_error(changed, 409, "IDEMPOTENCY_CONFLICT")
        assert_error(_idempotent(client, "x" * 256, BODY), 400, "INVALID_REQUEST")
        assert_error(_idempotent(client, "bad\tkey", BODY), 400, "INVALID_REQUEST")
        assert api_only_server.call(snapshot) == before
        other = _idempotent(client, "order-43", BODY)
        assert other.json()["data"]["task_id"] != first.json()["data"]["task_id"]
    assert api_only_server.call(partial(balance, name="retrier")) == 100 - 2 * PRICE


def test_twenty_concurrent_identical_creates_make_one_task(api_only_server: LiveServer) -> None:
    # exactly enough credits for one: a loser of the race must get the replay, not a 402
    key = api_only_server.create_account("racer", PRICE)
    with api_only_server.client(key) as client, concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _idempotent(client, "same", BODY), range(20)))
    assert [answer.status_code for answer in answers] == [200] * 20, answers[0].text
    assert len({answer.json()["data"]["task_id"] for answer in answers}) == 1
    assert api_only_server.call(snapshot)["tasks"] == 1
    assert api_only_server.call(partial(balance, name="racer")) == 0
    assert api_only_server.call(ledger_consistent)


def test_an_idempotency_key_expires_after_a_day(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("patient", 100)
    with api_only_server.client(key) as client:
        first = _idempotent(client, "daily", BODY).json()["data"]["task_id"]

        async def age(ctx: AppContext) -> None:
            from opendance.db.tables import idempotency_keys

            async with ctx.db.write() as conn:
                await conn.execute(
                    update(idempotency_keys).values(created_at=_ago(timedelta(hours=25)))
                )

        api_only_server.call(age)
        second = _idempotent(client, "daily", BODY | {"duration": 8})
        assert second.status_code == 200
        assert second.json()["data"]["task_id"] != first


def test_retention_deletes_the_files_and_explains_the_empty_response(tmp_path: Path) -> None:
    # the server keeps files (its worker's housekeeping would race the sweep for the task):
    # the operator's sweep is run with the retention set
    live = LiveServer(make_settings(tmp_path)).start()
    try:
        key = live.create_account("keeper", 100)
        with live.client(key) as client:
            task_id = generate(client, **BODY)
            done = wait_for_status(client, task_id)
            assert done["status"] == "SUCCESS"
            video_url = done["response"][0]
            assert httpx.get(video_url).status_code == 200

            async def age(ctx: AppContext) -> None:
                async with ctx.db.write() as conn:
                    await conn.execute(
                        update(task_table).values(finished_at=_ago(timedelta(days=2)))
                    )

            live.call(age)

            # the operator's sweep applies the retention (the workers' housekeeping does too)
            def sweep() -> int:
                swept = cli(
                    tmp_path / "data",
                    "storage",
                    "sweep",
                    "--json",
                    env={"OPENDANCE_RETENTION_DAYS": "1"},
                )
                return int(json.loads(swept.stdout)["expired_tasks"])

            assert sweep() == 1
            data = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
            assert data["status"] == "SUCCESS" and data["response"] == []
            assert data["poster_url"] is None and "retention" in data["error_message"]
            assert httpx.get(video_url).status_code == 404
            assert sweep() == 0  # once
    finally:
        live.stop()


def test_the_workers_housekeeping_applies_the_retention(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, retention_days=1)).start()
    try:
        key = live.create_account("tidy", 100)
        with live.client(key) as client:
            task_id = generate(client, **BODY)
            assert wait_for_status(client, task_id)["status"] == "SUCCESS"

            async def age(ctx: AppContext) -> None:
                async with ctx.db.write() as conn:
                    await conn.execute(
                        update(task_table).values(finished_at=_ago(timedelta(days=2)))
                    )

            live.call(age)
            # an idle worker tidies up every half lease (2.5 s here)
            deadline = time.monotonic() + 60
            while (data := _status(client, task_id))["response"]:
                assert time.monotonic() < deadline, data
                time.sleep(0.2)
            assert "retention" in data["error_message"]
    finally:
        live.stop()


def _status(client: httpx.Client, task_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
    return answer


def test_without_retention_nothing_expires(server: LiveServer) -> None:
    key = server.create_account("hoarder", 100)
    with server.client(key) as client:
        task_id = generate(client, **BODY)
        assert wait_for_status(client, task_id)["status"] == "SUCCESS"

    async def expire(ctx: AppContext) -> int:
        async with ctx.db.write() as conn:
            await conn.execute(update(task_table).values(finished_at=_ago(timedelta(days=999))))
        return await tasks.expire_retained(ctx)

    assert server.call(expire) == 0
