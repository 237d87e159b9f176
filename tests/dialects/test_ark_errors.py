"""Every error of the Ark door in Ark's shape, ``{"error": {"code", "message", "param",
"type"}}``, with Ark's statuses, as the SDK's exceptions read them; nothing charged."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime._exceptions import (
    ArkAPIStatusError,
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkNotFoundError,
    ArkPermissionDeniedError,
    ArkRateLimitError,
)

from opendance import errors
from opendance.api.error_shapes import error_response
from tests.conftest import make_settings
from tests.support.ark import TASKS, ark_client, png_data_url, text
from tests.support.db import snapshot
from tests.support.live import LiveServer

ERROR_KEYS = {"code", "message", "param", "type"}


def _shape(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    error: dict[str, Any] = body["error"]
    assert error["message"].endswith(f"Request id: {response.headers['x-request-id']}")
    return error


def _refused(error: ArkAPIStatusError, status: int, kind: str, code: str, param: str) -> None:
    assert error.status_code == status
    assert (error.type, error.code, error.param) == (kind, code, param)
    _shape(error.response)


@pytest.fixture
def key(api_only_server: LiveServer) -> str:
    return api_only_server.create_account("errors", 100)


def test_a_parameter_not_offered_is_a_400_naming_it(api_only_server: LiveServer, key: str) -> None:
    before = api_only_server.call(snapshot)
    ark = ark_client(api_only_server, key)
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(model="m", content=text("a kite"), resolution="1080p")
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "resolution")
    assert "1080p" in refused.value.message
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(model="m", content=text("a kite"), frames=121)
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "frames")
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(
            model="m",
            content=[
                *text("a kite"),
                {
                    "type": "image_url",
                    "image_url": {"url": "https://e.x/a.png"},
                    "role": "last_frame",
                },
            ],
        )
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "content[1].role")
    assert "last_frame" in refused.value.message
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(model=None, content=text("a kite"))  # type: ignore[arg-type]
    _refused(refused.value, 400, "BadRequest", "MissingParameter", "model")
    assert api_only_server.call(snapshot) == before


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/a.png", "http"),
        ("data:image/png;base64,not base64!", "base64"),
        ("data:text/plain;base64,aGVsbG8=", "image/"),
    ],
)
def test_a_bad_first_frame_url_is_a_400(
    api_only_server: LiveServer, key: str, url: str, why: str
) -> None:
    ark = ark_client(api_only_server, key)
    image = {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(model="m", content=[*text("a kite"), image])
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "content.image_url")
    assert why in refused.value.message


def test_an_unreadable_image_with_an_adaptive_ratio_is_a_400(
    api_only_server: LiveServer, key: str
) -> None:
    junk = "data:image/png;base64," + base64.b64encode(b"not a png at all").decode()
    image = {"type": "image_url", "image_url": {"url": junk}, "role": "first_frame"}
    ark = ark_client(api_only_server, key)
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(
            model="m", content=[*text("a kite"), image], ratio="adaptive"
        )
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "content.image_url")


def test_a_private_callback_url_is_a_400(api_only_server: LiveServer, key: str) -> None:
    ark = ark_client(api_only_server, key)
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.create(
            model="m", content=text("a kite"), callback_url="http://127.0.0.1:9/hook"
        )
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "callback_url")
    assert "127.0.0.1" not in refused.value.message.split(". Request id")[0]


def test_a_body_that_is_no_json_object_is_a_400(api_only_server: LiveServer, key: str) -> None:
    with api_only_server.client(key) as client:
        for content in (b"{not json", b"[1, 2]"):
            answer = client.post(TASKS, content=content)
            assert answer.status_code == 400
            assert _shape(answer) | {"message": ""} == {
                "code": "InvalidParameter",
                "message": "",
                "param": "",
                "type": "BadRequest",
            }


def test_a_bad_key_is_a_401(api_only_server: LiveServer) -> None:
    ark = ark_client(api_only_server, "od_not_a_key")
    with pytest.raises(ArkAuthenticationError) as refused:
        ark.content_generation.tasks.list()
    _refused(refused.value, 401, "Unauthorized", "AuthenticationError", "")


def test_too_few_credits_is_an_overdue_account_and_not_retried(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("broke", 3)  # a 480p 4 s task costs 8
    before = api_only_server.call(snapshot)
    ark = ark_client(api_only_server, key, max_retries=2)
    with pytest.raises(ArkPermissionDeniedError) as refused:
        ark.content_generation.tasks.create(
            model="m", content=text("a kite"), resolution="480p", duration=4
        )
    _refused(refused.value, 403, "Forbidden", "AccountOverdueError", "")
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert "costs 8 credits" in refused.value.message
    assert api_only_server.call(snapshot) == before


def test_an_unknown_task_and_an_unknown_route_are_404s(
    api_only_server: LiveServer, key: str
) -> None:
    ark = ark_client(api_only_server, key)
    with pytest.raises(ArkNotFoundError) as refused:
        ark.content_generation.tasks.get(task_id="task_nope")
    _refused(refused.value, 404, "NotFound", "ResourceNotFound", "")
    with api_only_server.client(key) as client:
        answer = client.get("/api/v3/contents/generations/nothing")
        assert answer.status_code == 404 and _shape(answer)["code"] == "ResourceNotFound"
        wrong_method = client.put(TASKS)
        assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
        assert _shape(wrong_method)["code"] == "MethodNotAllowed"
        # the Seedance door keeps its own envelope
        seedance = client.get("/v1/status", params={"task_id": "task_nope"})
        assert seedance.status_code == 404 and seedance.json()["error"] == "TASK_NOT_FOUND"


def test_a_bad_list_query_is_a_400(api_only_server: LiveServer, key: str) -> None:
    ark = ark_client(api_only_server, key)
    with pytest.raises(ArkBadRequestError) as refused:
        ark.content_generation.tasks.list(status="done")
    _refused(refused.value, 400, "BadRequest", "InvalidParameter", "filter.status")


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, rate_limit_per_minute=2, max_body_bytes=4096)
    live = LiveServer(settings, with_worker=False).start()
    yield live
    live.stop()


def test_too_many_requests_is_a_429_with_retry_after(strict: LiveServer) -> None:
    ark = ark_client(strict, strict.create_account("hasty", 100))
    ark.content_generation.tasks.list()
    ark.content_generation.tasks.list()
    with pytest.raises(ArkRateLimitError) as refused:
        ark.content_generation.tasks.list()
    _refused(refused.value, 429, "TooManyRequests", "RateLimitExceeded", "")
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_a_body_over_the_limit_is_a_413(strict: LiveServer) -> None:
    ark = ark_client(strict, strict.create_account("big", 100))
    image = {"type": "image_url", "image_url": {"url": png_data_url((400, 400))}}
    big = image | {"image_url": {"url": image["image_url"]["url"] + "A" * 8192}}  # type: ignore[index]
    with pytest.raises(ArkAPIStatusError) as refused:
        ark.content_generation.tasks.create(model="m", content=[*text("a kite"), big])
    _refused(refused.value, 413, "RequestEntityTooLarge", "RequestTooLarge", "")


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (errors.InternalError(), 500, "InternalServerError", "InternalServiceError"),
        (errors.NotReady(), 503, "ServiceUnavailable", "ServiceUnavailable"),
        (errors.RequestTimeout(), 408, "RequestTimeout", "RequestTimeout"),
        (
            errors.InvalidCallbackUrl("callback_url is not publicly reachable"),
            400,
            "BadRequest",
            "InvalidParameter",
        ),
    ],
)
def test_the_errors_no_request_here_provokes_have_ark_shapes_too(
    error: errors.ApiError, status: int, kind: str, code: str
) -> None:
    answer = error_response("/api/v3/contents/generations/tasks", error)
    shown = json.loads(bytes(answer.body))["error"]
    assert (answer.status_code, shown["type"], shown["code"]) == (status, kind, code)
    assert shown["message"] == error.message  # outside a request: no request id to add
    assert shown["param"] == ("callback_url" if status == 400 else "")
