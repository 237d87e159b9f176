"""GET /metrics on a real server (SQLite and PostgreSQL): the figures move as tasks are
submitted, run by a real worker, succeed or fail (and are refunded), and their webhooks are
delivered or given up; a replica that did nothing shows the same fleet figures; the token."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from opendance.db import deliveries as delivery_rows
from opendance.net.addresses import AddressPolicy
from opendance.services.context import AppContext
from opendance.services.webhook_dispatch import Dispatcher
from opendance.settings import Settings
from opendance.worker.host import create_host
from opendance.worker.runner import Worker
from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support import postgres
from tests.support.live import LiveServer, free_port, generate, wait_for_status
from tests.support.metrics import Scrape, scrape
from tests.support.receivers import Receiver

JUNK_IMAGE = "data:image/png;base64," + base64.b64encode(b"not an image" * 8).decode()
# These tests read the fleet's figures right after changing them; the server's cache of those
# figures (OPENDANCE_METRICS_CACHE_SECONDS, a few seconds by default) would show the previous
# scrape. The cache itself is tested below with a cache that outlives the test.
NO_CACHE: dict[str, object] = {"metrics_cache_seconds": 0}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """This module's ``server`` and ``api_only_server``: without the figures' cache."""
    return make_settings(tmp_path, **NO_CACHE)


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[LiveServer]:
    """The API without a worker (tests run one when they want), webhooks to loopback
    receivers (127.0.0.1 plays a public address), one quick retry before giving up."""
    settings = make_settings(tmp_path, webhook_retry_schedule="0.1s", **NO_CACHE)
    live = LiveServer(
        settings, with_worker=False, policy=AddressPolicy.default(allow=["127.0.0.1/32"])
    ).start()
    yield live
    live.stop()


def _submit(client: httpx.Client, **fields: Any) -> str:
    return generate(client, prompt="count me", resolution="480p", duration=4, **fields)


def _run_worker(live: LiveServer, tasks: int) -> None:
    async def work(ctx: AppContext) -> None:
        await Worker(ctx, create_host(ctx.settings)).run(max_tasks=tasks)

    live.call(work, timeout=300)


def _dispatch_until_settled(live: LiveServer) -> None:
    """Send webhooks (retries included) until no delivery is pending."""

    async def dispatch(ctx: AppContext) -> None:
        dispatcher = Dispatcher(ctx, owner="metrics-test")
        deadline = time.monotonic() + 60
        while True:
            await dispatcher.dispatch_due()
            async with ctx.db.read() as conn:
                found = await delivery_rows.list_deliveries(conn)
            if found and all(d.status != delivery_rows.PENDING for d in found):
                return
            assert time.monotonic() < deadline, [d.status for d in found]
            await asyncio.sleep(0.05)

    live.call(dispatch, timeout=90)


def _assert_monotonic(before: Scrape, after: Scrape) -> None:
    """Counters and histogram samples never go down between scrapes."""
    for (name, labels), value in before.fleet().items():
        family = name.removesuffix("_total").removesuffix("_bucket")
        family = family.removesuffix("_count").removesuffix("_sum")
        if after.types.get(family) in ("counter", "histogram"):
            assert after.samples[(name, labels)] >= value, (name, dict(labels))


def test_figures_follow_tasks_from_submit_to_webhook(hooked: LiveServer) -> None:
    good, bad = Receiver(answers=[200]).start(), Receiver(answers=[500]).start()
    gone_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    try:
        key = hooked.create_account("counted", 100)
        with hooked.client(key) as client:
            empty = scrape(client)
            assert empty.value("opendance_scrape_error") == 0
            assert empty.value("opendance_tasks", state="queued") == 0
            assert empty.value("opendance_credits_granted_total") == 100
            assert empty.value("opendance_credits_charged_total") == 0

            ok = _submit(client, callback_url=good.url)
            broken = _submit(client, callback_url=bad.url, image_urls=[JUNK_IMAGE])
            _submit(client, callback_url=gone_url)
            queued = scrape(client)
            assert queued.value("opendance_tasks", state="queued") == 3
            assert queued.value("opendance_tasks", state="succeeded") == 0
            assert queued.value("opendance_queue_oldest_task_age_seconds") > 0
            assert queued.value("opendance_credits_charged_total") == 24
            assert queued.value("opendance_credits_refunded_total") == 0
            assert (
                queued.value(
                    "opendance_http_requests_total",
                    route="/v1/generate",
                    method="POST",
                    status="200",
                )
                == 3
            )

            _run_worker(hooked, tasks=3)
            assert wait_for_status(client, ok)["status"] == "SUCCESS"
            assert wait_for_status(client, broken)["status"] == "FAILED"
            done = scrape(client)
            _dispatch_until_settled(hooked)
            delivered = scrape(client)
    finally:
        good.stop()
        bad.stop()

    assert done.value("opendance_tasks", state="queued") == 0
    assert done.value("opendance_tasks", state="succeeded") == 2
    assert done.value("opendance_tasks", state="failed") == 1
    assert done.value("opendance_queue_oldest_task_age_seconds") == 0
    assert done.value("opendance_credits_refunded_total") == 8  # the failed 480p 4 s task
    assert done.value("opendance_credits_charged_total") == 24
    succeeded = {"engine": "preview", "state": "succeeded"}
    assert done.value("opendance_task_duration_seconds_count", **succeeded) == 2
    assert (
        done.value("opendance_task_duration_seconds_count", engine="preview", state="failed") == 1
    )
    assert done.value("opendance_task_duration_seconds_bucket", le="+Inf", **succeeded) == 2
    assert done.value("opendance_task_duration_seconds_sum", **succeeded) > 0
    assert done.value("opendance_task_run_seconds_count", engine="preview") == 2
    # submit to finish includes the run, and the wait in the queue before it
    assert done.value("opendance_task_duration_seconds_sum", **succeeded) > done.value(
        "opendance_task_run_seconds_sum", engine="preview"
    )
    assert done.types["opendance_task_duration_seconds"] == "histogram"
    assert done.types["opendance_credits_charged"] == "counter"

    # one 200; 500 twice (first try and the one retry); no answer twice
    assert delivered.value("opendance_webhook_attempts_total", outcome="delivered") == 1
    assert delivered.value("opendance_webhook_attempts_total", outcome="rejected") == 2
    assert delivered.value("opendance_webhook_attempts_total", outcome="unreachable") == 2
    assert delivered.value("opendance_webhook_deliveries", status="delivered") == 1
    assert delivered.value("opendance_webhook_deliveries", status="failed") == 2
    assert delivered.value("opendance_webhook_deliveries", status="pending") == 0

    for before, after in [(empty, queued), (queued, done), (done, delivered)]:
        _assert_monotonic(before, after)


def test_live_workers_by_state_and_engine(server: LiveServer) -> None:
    with server.client() as client:
        deadline = time.monotonic() + 20
        while (found := scrape(client)).value(
            "opendance_workers", state="idle", engine="preview"
        ) != 1:
            assert time.monotonic() < deadline, found.fleet()
            time.sleep(0.05)
    assert found.types["opendance_workers"] == "gauge"


def test_a_replica_that_did_no_work_shows_the_same_fleet_figures(
    hooked: LiveServer, tmp_path: Path
) -> None:
    idle = LiveServer(make_settings(tmp_path, **NO_CACHE), with_worker=False).start()  # same db
    try:
        key = hooked.create_account("busy", 100)
        with hooked.client(key) as client:
            task_id = _submit(client)
            _submit(client, image_urls=[JUNK_IMAGE])
            _run_worker(hooked, tasks=2)
            wait_for_status(client, task_id)
            busy_view = scrape(client)
        with idle.client() as client:
            idle_view = scrape(client)
    finally:
        idle.stop()
    assert busy_view.value("opendance_tasks", state="succeeded") == 1
    assert busy_view.value("opendance_credits_refunded_total") == 8
    assert idle_view.fleet() == busy_view.fleet()
    # the per-process figures are each replica's own
    generate = {"route": "/v1/generate", "method": "POST", "status": "200"}
    assert busy_view.value("opendance_http_requests_total", **generate) == 2
    assert not idle_view.has("opendance_http_requests_total", **generate)


def test_routes_are_labelled_by_template_and_odd_requests_do_not_add_series(
    api_only_server: LiveServer,
) -> None:
    with api_only_server.client() as client:
        for name in ("a.mp4", "b.mp4", "c/d.mp4"):
            client.get(f"/files/videos/{name}")
        client.get("/no/such/page")
        client.get("/another/unknown/path")
        client.post("/v1/status")
        client.request("PROPFIND", "/v1/status")  # WebDAV: parsed, not a method of ours
        found = scrape(client)
    requests = "opendance_http_requests_total"
    assert found.value(requests, route="/files/{key}", method="GET", status="404") == 3
    assert found.value(requests, route="unmatched", method="GET", status="404") == 2
    assert found.value(requests, route="/v1/status", method="POST", status="405") == 1
    assert found.value(requests, route="/v1/status", method="other", status="405") == 1
    labels = {dict(labels).get("route") for name, labels in found.samples if name == requests}
    # (the server's start-up check polled /healthz)
    assert labels == {"/files/{key}", "unmatched", "/v1/status", "/healthz"}
    latency = {"route": "/files/{key}", "method": "GET"}
    assert found.value("opendance_http_request_duration_seconds_count", **latency) == 3
    assert found.value("opendance_http_request_duration_seconds_bucket", le="+Inf", **latency) == 3
    assert found.value("opendance_http_request_duration_seconds_sum", **latency) > 0


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, metrics_token="s3cret-t0ken"), with_worker=False)
    live.start()
    try:
        key = live.create_account("keyholder", 10)
        with live.client() as client:
            assert_error(client.get("/metrics"), 401, "INVALID_METRICS_TOKEN")
            wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-t0kem"})
            assert_error(wrong, 401, "INVALID_METRICS_TOKEN")
            # an API key is not the metrics token
            assert_error(
                client.get("/metrics", headers={"Authorization": f"Bearer {key}"}),
                401,
                "INVALID_METRICS_TOKEN",
            )
            assert_error(
                client.get("/metrics", headers={"Authorization": "Basic s3cret-t0ken"}),
                401,
                "INVALID_METRICS_TOKEN",
            )
            found = scrape(client, Authorization="Bearer s3cret-t0ken")
            assert found.value("opendance_scrape_error") == 0
            # the refused scrapes were counted too, under their route
            assert (
                found.value(
                    "opendance_http_requests_total", route="/metrics", method="GET", status="401"
                )
                == 4
            )
            # the token guards /metrics only
            assert client.get("/healthz").status_code == 200
    finally:
        live.stop()


def test_a_database_failure_answers_the_process_figures_and_the_error_gauge(
    api_only_server: LiveServer,
) -> None:
    async def rename(ctx: AppContext, old: str, new: str) -> None:
        async with ctx.db.write() as conn:
            await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    with api_only_server.client() as client:
        assert scrape(client).value("opendance_scrape_error") == 0
        api_only_server.call(lambda ctx: rename(ctx, "tasks", "tasks_elsewhere"))
        try:
            broken = scrape(client)
        finally:
            api_only_server.call(lambda ctx: rename(ctx, "tasks_elsewhere", "tasks"))
        healed = scrape(client)
    assert broken.value("opendance_scrape_error") == 1
    assert broken.fleet() == {}  # no half-read fleet figures
    assert (
        broken.value("opendance_http_requests_total", route="/metrics", method="GET", status="200")
        == 1
    )
    assert healed.value("opendance_scrape_error") == 0
    assert healed.has("opendance_tasks", state="queued")


@pytest.mark.only_on("postgresql")
def test_a_hung_database_is_a_scrape_error_not_a_hung_scrape(
    api_only_server: LiveServer,
) -> None:
    """A lock held on the tasks table makes the scrape's query wait; the scrape gives up after
    its timeout and still answers within Prometheus's default 10 s."""
    url = postgres.current_url()
    assert url is not None
    plain_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def hold_lock(locked: asyncio.Event, release: asyncio.Event) -> None:
        conn = await asyncpg.connect(plain_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await release.wait()
        finally:
            await conn.close()

    async def scenario() -> tuple[float, Scrape]:
        locked, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold_lock(locked, release))
        await locked.wait()
        try:
            async with httpx.AsyncClient(base_url=api_only_server.url, timeout=30) as client:
                started = time.monotonic()
                response = await client.get("/metrics")
                return time.monotonic() - started, Scrape.parse(response.text)
        finally:
            release.set()
            await holder

    seconds, found = asyncio.run(scenario())
    assert found.value("opendance_scrape_error") == 1
    assert 4 < seconds < 10
    with api_only_server.client() as client:
        assert scrape(client).value("opendance_scrape_error") == 0


def test_openmetrics_when_the_scraper_asks_for_it(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        response = client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    names = {family.name for family in openmetrics_families(response.text)}
    assert {"opendance_tasks", "opendance_credits_charged", "opendance_http_requests"} <= names


def test_beyond_loopback_the_token_is_required_by_default(tmp_path: Path) -> None:
    """A server bound to every interface (OPENDANCE_HOST / --host 0.0.0.0) without a token
    keeps /metrics closed: the credits and the fleet are not for whoever reaches the port.
    (This one listens on loopback all the same; what counts is what it was told to bind.)"""
    closed = LiveServer(make_settings(tmp_path, host="0.0.0.0"), with_worker=False)  # noqa: S104
    closed.start()
    try:
        with closed.client() as client:
            refused = client.get("/metrics")
            assert_error(refused, 401, "INVALID_METRICS_TOKEN")
            assert "OPENDANCE_METRICS_TOKEN" in refused.json()["message"]
            assert client.get("/healthz").status_code == 200
    finally:
        closed.stop()
    guarded = make_settings(tmp_path / "b", host="0.0.0.0", metrics_token="t0ken")  # noqa: S104
    live = LiveServer(guarded, with_worker=False).start()
    try:
        with live.client() as client:
            assert_error(client.get("/metrics"), 401, "INVALID_METRICS_TOKEN")
            assert scrape(client, Authorization="Bearer t0ken").value("opendance_scrape_error") == 0
    finally:
        live.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_on_loopback_only_metrics_stay_open_without_a_token(tmp_path: Path, host: str) -> None:
    live = LiveServer(make_settings(tmp_path, host=host), with_worker=False).start()
    try:
        with live.client() as client:
            assert scrape(client).value("opendance_scrape_error") == 0
    finally:
        live.stop()


def _a_successful_scrape(client: httpx.Client) -> Scrape:
    """A scrape whose fleet figures were read: on a loaded machine the read may run past the
    scrape's time limit, and then nothing is cached yet."""
    for _ in range(10):
        answer = scrape(client)
        if answer.value("opendance_scrape_error") == 0:
            return answer
    raise AssertionError("no scrape read the fleet's figures in ten tries")


def test_the_fleet_figures_are_cached_between_scrapes(tmp_path: Path) -> None:
    """Within the cache's lifetime a scrape does not touch the database: not even a missing
    table shows, and a new task appears only once the figures are read again."""
    live = LiveServer(make_settings(tmp_path, metrics_cache_seconds=600), with_worker=False)
    live.start()

    async def rename(ctx: AppContext, old: str, new: str) -> None:
        async with ctx.db.write() as conn:
            await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    try:
        key = live.create_account("cached", 100)
        with live.client(key) as client:
            first = _a_successful_scrape(client)
            _submit(client)
            live.call(lambda ctx: rename(ctx, "tasks", "tasks_elsewhere"))
            try:
                second = scrape(client)
            finally:
                live.call(lambda ctx: rename(ctx, "tasks_elsewhere", "tasks"))
    finally:
        live.stop()
    assert first.value("opendance_tasks", state="queued") == 0
    assert second.value("opendance_scrape_error") == 0
    assert second.fleet() == first.fleet()
    assert second.value("opendance_scrape_duration_seconds") < 0.01


def test_a_fresh_read_after_the_cache_expires(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, metrics_cache_seconds=0.3), with_worker=False)
    live.start()
    try:
        key = live.create_account("expiring", 100)
        with live.client(key) as client:
            assert scrape(client).value("opendance_tasks", state="queued") == 0
            _submit(client)
            assert scrape(client).value("opendance_tasks", state="queued") == 0  # cached
            time.sleep(0.4)
            assert scrape(client).value("opendance_tasks", state="queued") == 1
    finally:
        live.stop()
