"""The Ark door's list, delete, Idempotency-Key and tenancy, through Ark's SDK on a server
without a worker (tasks stay queued until a test claims them), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import ArkConflictError, ArkNotFoundError

from opendance.db import tasks as task_rows
from opendance.db.tables import ledger
from opendance.services.context import AppContext
from tests.support.ark import TASKS, ark_client, claim, complete, fail, text
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer, generate

PRICE_480P_4S = 8


def _create(ark: Ark, model: str = "m", prompt: str = "a kite", **fields: object) -> str:
    created = ark.content_generation.tasks.create(
        model=model, content=text(prompt), resolution="480p", duration=4, **fields
    )
    return str(created.id)


def _ledger(server: LiveServer, task_id: str, kind: str) -> int:
    async def count(ctx: AppContext) -> int:
        async with ctx.db.read() as conn:
            query = select(func.count()).where(ledger.c.task_id == task_id, ledger.c.kind == kind)
            return int((await conn.execute(query)).scalar_one())

    return server.call(count)


def _balance(server: LiveServer, name: str) -> int:
    return server.call(lambda ctx: balance(ctx, name))


# --- list --------------------------------------------------------------------------------


def test_list_pages_to_the_last_page_newest_first(api_only_server: LiveServer) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("lister", 1000))
    made = [_create(ark, prompt=f"kite {n}") for n in range(7)]
    seen: list[str] = []
    for page_num in (1, 2, 3):
        page = ark.content_generation.tasks.list(page_num=page_num, page_size=3)
        assert page.total == 7
        assert len(page.items) == (3 if page_num < 3 else 1)
        seen += [item.id for item in page.items]
    assert seen == made[::-1]
    beyond = ark.content_generation.tasks.list(page_num=4, page_size=3)
    assert (beyond.total, beyond.items) == (7, [])
    default = ark.content_generation.tasks.list()
    assert len(default.items) == 7 and default.items[0].status == "queued"


def test_list_filters_by_status_model_and_task_ids(api_only_server: LiveServer) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("filters", 1000))
    first = _create(ark, model="model-a")
    others = [_create(ark, model="model-a"), _create(ark, model="model-b")]
    ran = claim(api_only_server)  # the oldest: first
    assert ran.id == first
    assert ark.content_generation.tasks.list(status="running").total == 1
    complete(api_only_server, ran)
    listed = ark.content_generation.tasks.list
    succeeded = listed(status="succeeded")
    assert (succeeded.total, [t.id for t in succeeded.items]) == (1, [first])
    assert listed(status="queued").total == 2
    assert listed(status="failed").total == 0
    assert listed(model="model-a").total == 2 and listed(model="model-b").total == 1
    assert listed(model="model-a", status="queued").items[0].id == others[0]
    picked = listed(task_ids=[first, others[1], "task_unknown"])
    assert sorted(t.id for t in picked.items) == sorted([first, others[1]])
    assert listed(task_ids=others[1]).total == 1  # one id, as a string
    assert listed(service_tier="flex").total == 0  # every task here is on the default tier


def test_a_task_of_another_door_is_read_and_listed_here(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("doors", 1000)
    with api_only_server.client(key) as client:
        task_id = generate(client, prompt="from seedance", resolution="480p", duration=4)
    ark = ark_client(api_only_server, key)
    task = ark.content_generation.tasks.get(task_id=task_id)
    assert (task.id, task.status, task.model, task.duration) == (
        task_id,
        "queued",
        "seedance-2.0",
        4,
    )
    assert [t.id for t in ark.content_generation.tasks.list().items] == [task_id]


def test_an_expired_task_is_listed_as_expired_only(api_only_server: LiveServer) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("expiry", 100))
    made = {_create(ark), _create(ark)}
    complete(api_only_server, claim(api_only_server))
    complete(api_only_server, claim(api_only_server))

    async def expire_one(ctx: AppContext) -> None:
        async with ctx.db.write() as conn:
            await task_rows.expire_finished(conn, older_than=timedelta(0), limit=1)

    api_only_server.call(expire_one)  # as retention does, for one of the two
    (expired,) = ark.content_generation.tasks.list(status="expired").items
    (kept,) = made - {expired.id}
    assert (expired.status, expired.content) == ("expired", None)
    assert expired.usage.completion_tokens > 0  # the video was delivered before it expired
    assert [t.id for t in ark.content_generation.tasks.list(status="succeeded").items] == [kept]
    assert ark.content_generation.tasks.list().total == 2
    ark.content_generation.tasks.delete(expired.id)  # an expired task is finished: it goes
    assert [t.id for t in ark.content_generation.tasks.list().items] == [kept]


# --- delete ------------------------------------------------------------------------------


def test_deleting_a_queued_task_cancels_it_and_refunds_it_once(
    api_only_server: LiveServer,
) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("cancel", 100))
    task_id = _create(ark)
    assert _balance(api_only_server, "cancel") == 100 - PRICE_480P_4S
    assert ark.content_generation.tasks.delete(task_id) is not None  # {} parses
    task = ark.content_generation.tasks.get(task_id=task_id)  # still readable
    assert (task.status, task.error, task.content) == ("cancelled", None, None)
    assert _balance(api_only_server, "cancel") == 100
    # a second delete finds a finished task: it goes, and nothing is refunded again
    ark.content_generation.tasks.delete(task_id)
    with pytest.raises(ArkNotFoundError):
        ark.content_generation.tasks.get(task_id=task_id)
    assert _balance(api_only_server, "cancel") == 100
    assert _ledger(api_only_server, task_id, "refund") == 1
    assert api_only_server.call(ledger_consistent)


def test_deleting_a_finished_task_removes_it(api_only_server: LiveServer) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("finished", 100))
    won, lost = _create(ark), _create(ark)
    complete(api_only_server, claim(api_only_server))
    fail(api_only_server, claim(api_only_server), "the engine gave up")
    assert ark.content_generation.tasks.get(task_id=lost).error.code == "InternalServiceError"
    for task_id in (won, lost):
        ark.content_generation.tasks.delete(task_id)
        with pytest.raises(ArkNotFoundError):
            ark.content_generation.tasks.get(task_id=task_id)
        with pytest.raises(ArkNotFoundError):
            ark.content_generation.tasks.delete(task_id)
    assert ark.content_generation.tasks.list().total == 0
    # the failed one was refunded when it failed; deleting changed no money
    assert _balance(api_only_server, "finished") == 100 - PRICE_480P_4S
    assert _ledger(api_only_server, lost, "refund") == 1


def test_deleting_a_running_task_is_refused_at_once(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("running", 100)
    task_id = _create(ark_client(api_only_server, key))
    claim(api_only_server)
    # with the SDK's own retries on: the answer tells it not to retry, so it comes at once
    ark = ark_client(api_only_server, key, max_retries=2)
    started = time.monotonic()
    with pytest.raises(ArkConflictError) as refused:
        ark.content_generation.tasks.delete(task_id)
    assert time.monotonic() - started < 0.3  # a retry would have slept at least 0.375 s
    assert refused.value.code == "OperationDenied.UnsupportedPhase"
    assert refused.value.type == "Conflict" and "running" in refused.value.message
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert ark.content_generation.tasks.get(task_id=task_id).status == "running"
    assert _balance(api_only_server, "running") == 100 - PRICE_480P_4S


# --- Idempotency-Key ---------------------------------------------------------------------


def test_an_idempotency_key_replays_the_create_and_charges_once(
    api_only_server: LiveServer,
) -> None:
    ark = ark_client(api_only_server, api_only_server.create_account("idem", 100))
    once = {"extra_headers": {"Idempotency-Key": "order-17"}}
    first = _create(ark, prompt="one kite", **once)
    assert _create(ark, prompt="one kite", **once) == first
    assert _balance(api_only_server, "idem") == 100 - PRICE_480P_4S
    assert ark.content_generation.tasks.list().total == 1
    with pytest.raises(ArkConflictError) as conflict:
        _create(ark, prompt="another kite", **once)
    assert conflict.value.code == "IdempotencyKeyConflict"
    assert conflict.value.response.headers["x-should-retry"] == "false"
    # keys belong to an account: another one's same key is a new request
    other = ark_client(api_only_server, api_only_server.create_account("idem2", 100))
    assert _create(other, prompt="one kite", **once) != first


# --- tenancy -----------------------------------------------------------------------------


def test_another_account_sees_nothing(api_only_server: LiveServer) -> None:
    mine = ark_client(api_only_server, api_only_server.create_account("owner", 100))
    task_id = _create(mine)
    theirs = ark_client(api_only_server, api_only_server.create_account("stranger", 100))
    with pytest.raises(ArkNotFoundError) as hidden:
        theirs.content_generation.tasks.get(task_id=task_id)
    assert hidden.value.code == "ResourceNotFound"
    with pytest.raises(ArkNotFoundError):
        theirs.content_generation.tasks.delete(task_id)
    assert theirs.content_generation.tasks.list().model_dump(include={"total", "items"}) == {
        "total": 0,
        "items": [],
    }
    assert theirs.content_generation.tasks.list(task_ids=[task_id]).total == 0
    assert mine.content_generation.tasks.get(task_id=task_id).status == "queued"
    with api_only_server.client("not-a-key") as anonymous:
        assert anonymous.get(f"{TASKS}/{task_id}").status_code == 401


def test_the_list_answers_total_and_items_only(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("shape", 100)
    with httpx.Client(base_url=api_only_server.url) as client:
        answer = client.get(TASKS, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json() == {"total": 0, "items": []}
