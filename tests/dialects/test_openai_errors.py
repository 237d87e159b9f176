"""Every error of the OpenAI door in OpenAI's shape, ``{"error": {"message", "type", "param",
"code"}}``, with the statuses and headers the SDK acts on: it raises the right exception, and
retries only what a retry can fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from opendance.settings import Settings
from tests.conftest import make_settings
from tests.dialects.openai_support import SORA_DEPRECATION, SentRequests, error_of, sdk
from tests.support.db import snapshot
from tests.support.live import LiveServer

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)

MAX_BODY = 64 * 1024


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveServer]:
    """No worker, a small body limit and a tight per-key rate limit."""
    settings: Settings = make_settings(tmp_path, max_body_bytes=MAX_BODY, rate_limit_per_minute=6)
    live = LiveServer(settings, with_worker=False).start()
    yield live
    live.stop()


def _post(live: LiveServer, key: str | None, **kwargs: Any) -> httpx.Response:
    with live.client(key) as http:
        return http.post("/v1/videos", **kwargs)


@pytest.mark.parametrize(
    ("body", "param", "code", "says"),
    [
        ({"size": "864x480"}, "prompt", "invalid_prompt", "prompt is required"),
        ({"prompt": "p", "size": "1792x1024"}, "size", "invalid_request", "1280x720, 720x1280"),
        ({"prompt": "p", "seconds": "5"}, "seconds", "invalid_duration", "'4', '8', and '12'"),
        ({"prompt": "p", "resolution": "720p"}, "resolution", "invalid_request", "Unknown"),
        ({"prompt": "p", "seed": "x"}, "seed", "invalid_request", "seed"),
        ({"prompt": "p", "generate_audio": "yes"}, "generate_audio", "invalid_request", "true"),
        (
            {"prompt": "p", "input_reference": {"file_id": "file-1"}},
            "input_reference",
            "invalid_image_url",
            "file_id",
        ),
        (
            {"prompt": "p", "input_reference": {"image_url": "ftp://example.com/a.png"}},
            "input_reference",
            "invalid_image_url",
            "http",
        ),
        (
            {"prompt": "p", "callback_url": "http://127.0.0.1/hook"},
            "callback_url",
            "invalid_callback_url",
            "public internet",
        ),
    ],
)
def test_a_bad_create_is_a_400_naming_the_parameter(
    api_only_server: LiveServer, body: dict[str, Any], param: str, code: str, says: str
) -> None:
    key = api_only_server.create_account("bad", 100)
    before = api_only_server.call(snapshot)
    answer = _post(api_only_server, key, json=body)
    assert answer.status_code == 400
    error = error_of(answer)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert says in error["message"]
    assert api_only_server.call(snapshot) == before  # nothing charged, nothing queued


def test_the_sdk_raises_bad_request_for_a_form_it_sent(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("form", 100)
    client = sdk(api_only_server, key)
    with pytest.raises(openai.BadRequestError) as not_an_image:
        client.videos.create(
            prompt="p", size="864x480", input_reference=("a.png", b"GIF89a...", "image/png")
        )
    assert not_an_image.value.param == "input_reference"  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as too_big:
        client.videos.create(prompt="p", size="1024x1792")
    assert too_big.value.param == "size"  # type: ignore[attr-defined]
    with api_only_server.client(key) as http:
        garbled = http.post(
            "/v1/videos",
            content=b"--x\r\nno headers\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        not_json = http.post("/v1/videos", content=b"prompt=p")
    assert garbled.status_code == 400 and "multipart" in error_of(garbled)["message"]
    assert not_json.status_code == 400 and "JSON object" in error_of(not_json)["message"]


@pytest.mark.parametrize("authorization", [None, "Bearer sk-not-a-key", "Basic abc"])
def test_a_missing_or_wrong_key_is_401_invalid_api_key(
    api_only_server: LiveServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=api_only_server.url, headers=headers) as http:
        answers = [
            http.get("/v1/videos"),
            http.get("/v1/videos/task_x"),
            http.post("/v1/videos", json={"prompt": "p"}),
        ]
    for answer in answers:
        assert answer.status_code == 401
        error = error_of(answer)
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        sdk(api_only_server, "sk-wrong").videos.list()


def test_unknown_videos_routes_and_methods_answer_in_openai_shape(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("lost", 100)
    with api_only_server.client(key) as http:
        unknown_video = http.get("/v1/videos/task_nope")
        unknown_route = http.get("/v1/videos/task_nope/frames")
        wrong_method = http.put("/v1/videos")
        bad_variant = http.get("/v1/videos/task_nope/content", params={"variant": "gif"})
        seedance = http.get("/v1/status", params={"task_id": "task_nope"})
    assert unknown_video.status_code == unknown_route.status_code == 404
    assert error_of(unknown_video)["code"] == error_of(unknown_route)["code"] == "not_found"
    assert "task_nope" in error_of(unknown_video)["message"]
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
    assert error_of(wrong_method)["code"] == "method_not_allowed"
    assert bad_variant.status_code == 400 and error_of(bad_variant)["param"] == "variant"
    assert seedance.json()["error"] == "TASK_NOT_FOUND"  # the Seedance door keeps its envelope


def test_too_few_credits_is_429_insufficient_quota_and_the_sdk_does_not_retry(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("broke", 5)
    sent = SentRequests()
    client = sdk(api_only_server, key, max_retries=2, sent=sent)  # the SDK's default retries
    with pytest.raises(openai.RateLimitError) as caught:
        client.videos.create(prompt="too dear", size="864x480")
    assert caught.value.status_code == 429 and caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "8 credits" in caught.value.message and "balance is 5" in caught.value.message
    assert len(sent.seen) == 1  # no retry
    assert client.videos.list().data == []


def test_a_body_over_the_limit_is_413(limited: LiveServer) -> None:
    key = limited.create_account("large", 100)
    big = b"\x89PNG\r\n\x1a\n" + b"0" * MAX_BODY
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(limited, key).videos.create(prompt="p", input_reference=("a.png", big, "image/png"))
    assert caught.value.status_code == 413
    error = error_of(caught.value.response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payload_too_large")


def test_the_rate_limit_is_429_with_retry_after(limited: LiveServer) -> None:
    key = limited.create_account("hasty", 100)
    with limited.client(key) as http:
        answers = [http.get("/v1/videos") for _ in range(8)]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused and all(answer.status_code == 200 for answer in answers[:6])
    error = error_of(refused[0])
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert int(refused[0].headers["retry-after"]) >= 1
    assert "x-should-retry" not in refused[0].headers  # a wait helps: the SDK may retry
