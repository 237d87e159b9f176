"""Error mapping and retries of the SDK, over scripted answers (httpx.MockTransport)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from opendance.client import (
    ApiError,
    BadRequest,
    Client,
    ConfigurationError,
    Conflict,
    IdempotencyConflict,
    InsufficientCredits,
    InternalError,
    InvalidApiKey,
    InvalidDuration,
    RateLimited,
    RetryPolicy,
    ServerBusy,
    TaskNotCancellable,
    TaskNotFound,
    TransportError,
    UnexpectedResponse,
)
from opendance.client.errors import ERRORS_BY_CODE
from tests.client.fakes import (
    BASE,
    KEY,
    FakeTime,
    api_error,
    envelope,
    scripted_client,
    task_data,
)

SERVER_402 = "this request costs 28 credits but the balance is 5; ask the operator for more credits"


def test_every_api_error_code_has_its_own_class_with_status_error_and_message() -> None:
    from opendance import errors as server_errors

    server_codes = {
        cls.code
        for cls in vars(server_errors).values()
        if isinstance(cls, type) and issubclass(cls, server_errors.ApiError)
    }
    assert server_codes <= set(ERRORS_BY_CODE)
    for code, cls in ERRORS_BY_CODE.items():
        client, _, _ = scripted_client(api_error(418, code, f"about {code}"))
        with pytest.raises(cls) as caught:
            client.status("task_1")
        assert type(caught.value) is cls and isinstance(caught.value, ApiError)
        assert (caught.value.status_code, caught.value.error) == (418, code)
        assert caught.value.message == f"about {code}"


def test_bad_requests_share_a_base_and_unknown_codes_still_map() -> None:
    client, _, _ = scripted_client(
        api_error(400, "INVALID_DURATION", "duration must be 4, 8 or 12")
    )
    with pytest.raises(BadRequest) as caught:
        client.generate("p", duration=4)
    assert isinstance(caught.value, InvalidDuration)
    client, _, _ = scripted_client(api_error(400, "BRAND_NEW_CODE", "new"))
    with pytest.raises(BadRequest) as unknown:
        client.generate("p")
    assert unknown.value.error == "BRAND_NEW_CODE"
    client, _, _ = scripted_client(api_error(409, "CONFLICT_OF_SORTS", "later"))
    with pytest.raises(Conflict) as conflict:
        client.generate("p")
    assert type(conflict.value) is Conflict and conflict.value.status_code == 409
    client, _, _ = scripted_client(api_error(418, "TEAPOT", "short and stout"))
    with pytest.raises(ApiError) as other:
        client.generate("p")
    assert type(other.value) is ApiError and other.value.status_code == 418


def test_insufficient_credits_carries_price_and_balance() -> None:
    client, _, _ = scripted_client(api_error(402, "INSUFFICIENT_CREDITS", SERVER_402))
    with pytest.raises(InsufficientCredits) as caught:
        client.generate("p", resolution="720p")
    assert (caught.value.price, caught.value.balance) == (28, 5)
    assert str(caught.value) == f"{SERVER_402} (INSUFFICIENT_CREDITS, HTTP 402)"


def test_insufficient_credits_from_data_fields_of_another_server() -> None:
    body = {"code": 402, "message": "no", "error": "INSUFFICIENT_CREDITS"}
    body["data"] = {"price": 14, "balance": 3}  # type: ignore[assignment]
    client, _, _ = scripted_client(httpx.Response(402, json=body))
    with pytest.raises(InsufficientCredits) as caught:
        client.generate("p")
    assert (caught.value.price, caught.value.balance) == (14, 3)


def test_generate_sends_only_given_fields_with_the_bearer_key() -> None:
    client, script, _ = scripted_client(envelope({"task_id": "task_9", "status": "IN_PROGRESS"}))
    submitted = client.generate(
        "a fox", aspect_ratio="16:9", duration=4, fixed_lens=True, seed=7, extra={"x": 1}
    )
    assert submitted.task_id == "task_9" and submitted.status == "IN_PROGRESS"
    (request,) = script.requests
    assert request.method == "POST" and str(request.url) == f"{BASE}/v1/generate"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "prompt": "a fox",
        "aspect_ratio": "16:9",
        "duration": 4,
        "fixed_lens": True,
        "seed": 7,
        "x": 1,
    }


def test_status_retries_5xx_then_succeeds_with_growing_backoff() -> None:
    client, script, time = scripted_client(
        api_error(503, "NOT_READY", "not ready"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        api_error(500, "INTERNAL_ERROR", "oops"),
        envelope(task_data("SUCCESS", 100)),
    )
    task = client.status("task_1")
    assert task.succeeded and task.video_url == f"{BASE}/files/v.mp4?sig=s"
    assert len(script.requests) == 4
    assert time.sleeps == [0.5, 1.0, 2.0]
    assert script.requests[0].url.params["task_id"] == "task_1"


def test_status_gives_up_after_its_attempts_with_the_last_error() -> None:
    client, script, _ = scripted_client(api_error(500, "INTERNAL_ERROR", "still broken"))
    with pytest.raises(InternalError, match="still broken"):
        client.status("task_1")
    assert len(script.requests) == RetryPolicy().attempts


def test_rate_limited_status_waits_exactly_retry_after() -> None:
    client, script, time = scripted_client(
        api_error(429, "RATE_LIMITED", "slow down", **{"Retry-After": "7"}),
        envelope(task_data()),
    )
    assert client.status("task_1").status == "IN_PROGRESS"
    assert time.sleeps == [7.0] and len(script.requests) == 2


def test_retry_after_beyond_the_cap_is_raised_at_once() -> None:
    client, script, time = scripted_client(
        api_error(429, "RATE_LIMITED", "slow down", **{"Retry-After": "3600"})
    )
    with pytest.raises(RateLimited) as caught:
        client.status("task_1")
    assert caught.value.retry_after == 3600 and time.sleeps == [] and len(script.requests) == 1


def test_jitter_spreads_waits_but_never_shortens_retry_after() -> None:
    time = FakeTime()
    client = Client(
        BASE,
        KEY,
        transport=httpx.MockTransport(
            lambda r: api_error(429, "RATE_LIMITED", "x", **{"Retry-After": "2"})
        ),
        retry=RetryPolicy(attempts=3, jitter=0.5),
        sleep=time.sleep,
        clock=time.clock,
        random=lambda: 1.0,
    )
    with pytest.raises(RateLimited):
        client.status("task_1")
    assert time.sleeps == [3.0, 3.0]


def test_generate_retries_lost_answers_and_5xx_with_one_idempotency_key() -> None:
    created = envelope({"task_id": "task_2", "status": "IN_PROGRESS"})
    client, script, time = scripted_client(
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("closed mid-answer"),
        api_error(500, "INTERNAL_ERROR", "oops"),
        created,
    )
    assert client.generate("p").task_id == "task_2"
    assert len(script.requests) == 4 and time.sleeps == [0.5, 1.0, 2.0]
    keys = {request.headers["idempotency-key"] for request in script.requests}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 4
    assert len({request.content for request in script.requests}) == 1


def test_each_generate_call_has_its_own_idempotency_key_unless_given_one() -> None:
    created = envelope({"task_id": "task_2", "status": "IN_PROGRESS"})
    client, script, _ = scripted_client(created)
    client.generate("p")
    client.generate("p")
    client.generate("p", idempotency_key="order-17")
    first, second, given = (request.headers["idempotency-key"] for request in script.requests)
    assert first != second and given == "order-17"
    assert "idempotency_key" not in json.loads(script.requests[2].content)


def test_generate_gives_up_after_its_attempts_with_the_last_failure() -> None:
    client, script, _ = scripted_client(httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError, match="no answer"):
        client.generate("p")
    assert len(script.requests) == RetryPolicy().attempts


def test_an_idempotency_conflict_is_raised_not_retried() -> None:
    message = "this Idempotency-Key was used with a different request in the last 24 hours"
    client, script, _ = scripted_client(api_error(409, "IDEMPOTENCY_CONFLICT", message))
    with pytest.raises(IdempotencyConflict, match="different request"):
        client.generate("p", idempotency_key="reused")
    assert len(script.requests) == 1


def test_generate_is_retried_when_the_server_certainly_created_nothing() -> None:
    created = envelope({"task_id": "task_2", "status": "IN_PROGRESS"})
    client, script, time = scripted_client(
        httpx.ConnectError("connection refused"),
        api_error(429, "RATE_LIMITED", "slow down", **{"Retry-After": "1"}),
        created,
    )
    assert client.generate("p").task_id == "task_2"
    assert len(script.requests) == 3 and time.sleeps == [0.5, 1.0]


def test_cancel_is_not_retried_once_it_may_have_happened() -> None:
    client, script, _ = scripted_client(httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError):
        client.cancel("task_1")
    assert len(script.requests) == 1
    client, script, _ = scripted_client(api_error(500, "INTERNAL_ERROR", "oops"))
    with pytest.raises(InternalError):
        client.cancel("task_1")
    assert len(script.requests) == 1
    cancelled = task_data("FAILED", consumed_credits=0, error_message="cancelled")
    client, script, _ = scripted_client(httpx.ConnectError("refused"), envelope(cancelled))
    task = client.cancel("task_1")
    assert task.failed and task.consumed_credits == 0 and len(script.requests) == 2
    assert script.requests[-1].method == "POST" and script.requests[-1].url.path == "/v1/cancel"
    assert json.loads(script.requests[-1].content) == {"task_id": "task_1"}


def test_a_finished_task_is_not_cancellable() -> None:
    client, _, _ = scripted_client(
        api_error(409, "TASK_NOT_CANCELLABLE", "the task has already finished")
    )
    with pytest.raises(TaskNotCancellable) as caught:
        client.cancel("task_1")
    assert isinstance(caught.value, Conflict) and caught.value.status_code == 409


def test_connection_errors_are_separate_from_api_errors() -> None:
    client, script, _ = scripted_client(httpx.ConnectError("connection refused"))
    with pytest.raises(TransportError) as caught:
        client.status("task_1")
    assert not isinstance(caught.value, ApiError)
    assert "cannot connect to http://api.test/v1/status" in str(caught.value)
    assert "task_1" not in caught.value.url
    assert len(script.requests) == RetryPolicy().attempts


def test_answers_that_are_not_the_envelope_are_unexpected_responses() -> None:
    client, _, _ = scripted_client(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(UnexpectedResponse) as caught:
        client.status("task_1")
    assert caught.value.status_code == 200
    client, _, _ = scripted_client(envelope({"task_id": "t", "status": "EXPLODED"}))
    with pytest.raises(UnexpectedResponse, match="EXPLODED"):
        client.status("t")


def test_not_found_and_bad_key_map_to_their_classes() -> None:
    client, _, _ = scripted_client(api_error(404, "TASK_NOT_FOUND", "task 'x' not found"))
    with pytest.raises(TaskNotFound):
        client.status("x")
    client, _, _ = scripted_client(api_error(401, "INVALID_API_KEY", "bad key"))
    with pytest.raises(InvalidApiKey):
        client.status("x")


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDANCE_BASE_URL", "https://video.example/prefix")
    monkeypatch.setenv("OPENDANCE_API_KEY", "od_env")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return envelope(task_data())

    with Client(transport=httpx.MockTransport(answer)) as client:
        client.status("task_1")
    assert str(seen[0].url) == "https://video.example/prefix/v1/status?task_id=task_1"
    assert seen[0].headers["authorization"] == "Bearer od_env"
    monkeypatch.delenv("OPENDANCE_API_KEY")
    with pytest.raises(ConfigurationError, match="OPENDANCE_API_KEY"):
        Client()
    with pytest.raises(ConfigurationError, match="http"):
        Client("ftp://nope", "k")


def test_a_task_list_with_more_pages_but_no_cursor_is_unexpected() -> None:
    page = {"tasks": [task_data()], "has_more": True, "last_id": None}
    client, script, _ = scripted_client(envelope(page))
    with pytest.raises(UnexpectedResponse, match="no last_id"):
        list(client.list())
    assert len(script.requests) == 1
    client, _, _ = scripted_client(envelope({"has_more": False}))
    with pytest.raises(UnexpectedResponse, match="no tasks"):
        list(client.list())


def test_a_busy_server_is_waited_out_for_its_retry_after_then_raised() -> None:
    busy = api_error(503, "SERVER_BUSY", "the server is busy", **{"Retry-After": "2"})
    created = envelope({"task_id": "task_3", "status": "IN_PROGRESS"})
    client, script, time = scripted_client(busy, created)
    assert client.generate("p", image_urls=["data:image/png;base64,AAAA"]).task_id == "task_3"
    assert time.sleeps == [2.0] and len(script.requests) == 2
    assert len({request.headers["idempotency-key"] for request in script.requests}) == 1
    client, script, _ = scripted_client(busy)
    with pytest.raises(ServerBusy) as caught:
        client.generate("p")
    assert caught.value.retry_after == 2 and len(script.requests) == RetryPolicy().attempts
