"""GET /v1/status, isolation between accounts, revoked keys, and the small endpoints."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from opendance.services import admin
from opendance.services.context import AppContext
from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support.live import LiveServer, generate, wait_for_status


def _submit(client: httpx.Client) -> str:
    return generate(client, prompt="status", resolution="480p", duration=4)


def test_status_of_a_queued_task_has_the_contract_shape(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("shape", 100)
    with api_only_server.client(key) as client:
        task_id = _submit(client)
        body = client.get("/v1/status", params={"task_id": task_id}).json()
    assert body["code"] == 200 and body["message"] == "success"
    data = body["data"]
    assert data["task_id"] == task_id
    assert data["status"] == "IN_PROGRESS"
    assert data["consumed_credits"] == 8
    assert data["created_at"].endswith("Z") and len(data["created_at"]) == 20
    assert data["request"]["duration"] == "4"
    assert data["response"] == []
    assert data["error_message"] is None
    assert 0 <= data["progress"] <= 100


def test_status_requires_task_id(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("noid", 10)
    with api_only_server.client(key) as client:
        assert_error(client.get("/v1/status"), 400, "INVALID_REQUEST")
        assert_error(client.get("/v1/status", params={"task_id": ""}), 400, "INVALID_REQUEST")


def test_unknown_task_is_404(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("lost", 10)
    with api_only_server.client(key) as client:
        assert_error(
            client.get("/v1/status", params={"task_id": "task_nope"}), 404, "TASK_NOT_FOUND"
        )


def test_another_accounts_task_is_indistinguishable_from_unknown(
    api_only_server: LiveServer,
) -> None:
    alice = api_only_server.create_account("alice", 100)
    bob = api_only_server.create_account("bob", 100)
    with api_only_server.client(alice) as a, api_only_server.client(bob) as b:
        task_id = _submit(a)
        foreign = b.get("/v1/status", params={"task_id": task_id})
        unknown = b.get("/v1/status", params={"task_id": "task_" + "x" * 22})
    assert_error(foreign, 404, "TASK_NOT_FOUND")
    assert foreign.json()["message"].replace(task_id, "ID") == unknown.json()["message"].replace(
        "task_" + "x" * 22, "ID"
    )


def test_second_key_of_same_account_sees_the_task(api_only_server: LiveServer) -> None:
    first = api_only_server.create_account("team", 100)
    second = api_only_server.call(lambda c: admin.create_key(c, "team")).secret
    with api_only_server.client(first) as a, api_only_server.client(second) as b:
        task_id = _submit(a)
        assert b.get("/v1/status", params={"task_id": task_id}).status_code == 200


def test_revoked_key_is_rejected_at_once(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("revoker", 100)

    async def revoke_all(ctx: AppContext) -> None:
        for record in await admin.list_keys(ctx, "revoker"):
            await admin.revoke_key(ctx, record.id)

    with api_only_server.client(key) as client:
        task_id = _submit(client)
        api_only_server.call(revoke_all)
        assert_error(client.get("/v1/status", params={"task_id": task_id}), 401, "INVALID_API_KEY")
        assert_error(client.post("/v1/generate", json={"prompt": "x"}), 401, "INVALID_API_KEY")


def test_rate_limit_answers_429_with_retry_after(tmp_path: object) -> None:
    from pathlib import Path

    from tests.conftest import make_settings

    assert isinstance(tmp_path, Path)
    live = LiveServer(make_settings(tmp_path, rate_limit_per_minute=3), with_worker=False).start()
    try:
        key = live.create_account("hasty", 100)
        other = live.create_account("calm", 100)
        with live.client(key) as client, live.client(other) as calm:
            codes = [
                client.get("/v1/status", params={"task_id": "x"}).status_code for _ in range(3)
            ]
            assert codes == [404, 404, 404]
            limited = client.get("/v1/status", params={"task_id": "x"})
            assert_error(limited, 429, "RATE_LIMITED")
            assert int(limited.headers["Retry-After"]) >= 1
            # the limit is per key
            assert calm.get("/v1/status", params={"task_id": "x"}).status_code == 404
    finally:
        live.stop()


def test_every_response_carries_a_request_id(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        first = client.get("/healthz")
        second = client.get("/v1/status")
        echoed = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.status_code == 401 and second.headers["x-request-id"]
    assert echoed.headers["x-request-id"] == "trace-123"


def test_unknown_route_and_wrong_method_use_the_envelope(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        assert_error(client.get("/v2/nothing"), 404, "NOT_FOUND")
        wrong_method = client.get("/v1/generate")
        assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
        assert wrong_method.headers["allow"] == "POST"


def test_healthz_and_readyz_without_workers(api_only_server: LiveServer) -> None:
    with api_only_server.client() as client:
        assert client.get("/healthz").json()["data"]["status"] == "ok"
        not_ready = client.get("/readyz")
    assert_error(not_ready, 503, "NOT_READY")
    assert "no worker" in not_ready.json()["message"]


def test_readyz_with_a_worker(server: LiveServer) -> None:
    deadline = time.monotonic() + 10
    with server.client() as client:
        while (ready := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert ready.status_code == 200, ready.json()
    assert ready.json()["data"]["workers"] == 1


def test_request_id_appears_in_the_access_log_line(
    api_only_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    def logged(request_id: str) -> bool:
        lines = [r.getMessage() for r in caplog.records if r.name == "opendance.access"]
        return any(f"request_id={request_id}" in line and " 401 " in line for line in lines)

    with caplog.at_level(logging.INFO, logger="opendance.access"), api_only_server.client() as c:
        response = c.get("/v1/status")
        request_id = response.headers["x-request-id"]
        # the server's thread writes the line once the response is sent: it may come just after
        deadline = time.monotonic() + 5
        while not logged(request_id) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert logged(request_id), [r.getMessage() for r in caplog.records]


def test_video_urls_use_the_configured_public_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://videos.example.com/od/")
    live = LiveServer(settings).start()
    try:
        key = live.create_account("public", 100)
        with live.client(key) as client:
            task = client.post(
                "/v1/generate", json={"prompt": "x", "resolution": "480p", "duration": 4}
            ).json()["data"]["task_id"]
            data = wait_for_status(client, task)
    finally:
        live.stop()
    assert data["response"][0].startswith("https://videos.example.com/od/files/videos/")


def test_unexpected_errors_are_500_with_request_id_and_no_internals(
    api_only_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = api_only_server.create_account("unlucky", 10)

    def explode(*_args: object) -> None:
        raise RuntimeError("secret internals: /srv/opendance.db SELECT * FROM tasks")

    monkeypatch.setattr("opendance.api.routes.found_status", explode)
    with caplog.at_level(logging.ERROR, logger="opendance.api"), api_only_server.client(key) as c:
        response = c.get("/v1/status", params={"task_id": "task_x"})
    body = response.json()
    assert response.status_code == 500
    assert body["code"] == 500 and body["error"] == "INTERNAL_ERROR" and body["data"] is None
    request_id = response.headers["x-request-id"]
    assert request_id in body["message"]
    assert "secret" not in response.text and "SELECT" not in response.text
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
