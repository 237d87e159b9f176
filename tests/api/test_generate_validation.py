"""POST /v1/generate: every field rule, error code and the order of checks of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.support import fleet
from tests.support.db import snapshot
from tests.support.live import LiveServer

VALID = {
    "prompt": "A cinematic shot of mountains at sunrise",
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration": "8",
}


@pytest.fixture
def alice(api_only_server: LiveServer) -> Iterator[httpx.Client]:
    key = api_only_server.create_account("alice", 1000)
    with api_only_server.client(key) as client:
        yield client


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/v1/generate", json=body)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == status
    assert body["error"] == code
    assert body["data"] is None
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "INVALID_PROMPT"),
        ({"prompt": None}, "INVALID_PROMPT"),
        ({"prompt": ""}, "INVALID_PROMPT"),
        ({"prompt": "   \n\t "}, "INVALID_PROMPT"),
        ({"prompt": "x" * 2001}, "INVALID_PROMPT"),
        ({"prompt": 42}, "INVALID_PROMPT"),
        ({"prompt": ["a"]}, "INVALID_PROMPT"),
        ({"prompt": "bad\u0000prompt"}, "INVALID_PROMPT"),
        ({"prompt": "ok", "aspect_ratio": "2:1"}, "INVALID_ASPECT_RATIO"),
        ({"prompt": "ok", "aspect_ratio": 1.0}, "INVALID_ASPECT_RATIO"),
        ({"prompt": "ok", "aspect_ratio": "16:9 "}, "INVALID_ASPECT_RATIO"),
        ({"prompt": "ok", "resolution": "1080p"}, "INVALID_RESOLUTION"),
        ({"prompt": "ok", "resolution": 720}, "INVALID_RESOLUTION"),
        ({"prompt": "ok", "duration": 5}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": "5"}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": 8.5}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": "8s"}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": True}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": [8]}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": "²"}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": "٨"}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": "\uff10\uff18"}, "INVALID_DURATION"),  # fullwidth 08
        ({"prompt": "ok", "duration": "08"}, "INVALID_DURATION"),
        ({"prompt": "ok", "duration": " 8"}, "INVALID_DURATION"),
        ({"prompt": "ok", "generate_audio": "true"}, "INVALID_REQUEST"),
        ({"prompt": "ok", "generate_audio": 1}, "INVALID_REQUEST"),
        ({"prompt": "ok", "fixed_lens": "yes"}, "INVALID_REQUEST"),
        (
            {"prompt": "ok", "image_urls": ["https://a.example/1.png", "https://a.example/2.png"]},
            "TOO_MANY_IMAGES",
        ),
        ({"prompt": "ok", "image_urls": "https://a.example/1.png"}, "INVALID_IMAGE_URL"),
        ({"prompt": "ok", "image_urls": [42]}, "INVALID_IMAGE_URL"),
        ({"prompt": "ok", "image_urls": ["ftp://a.example/1.png"]}, "INVALID_IMAGE_URL"),
        ({"prompt": "ok", "image_urls": ["not a url"]}, "INVALID_IMAGE_URL"),
        ({"prompt": "ok", "image_urls": ["data:text/plain;base64,aGVsbG8="]}, "INVALID_IMAGE_URL"),
        (
            {"prompt": "ok", "image_urls": ["data:image/png;base64,@@@notbase64"]},
            "INVALID_IMAGE_URL",
        ),
        ({"prompt": "ok", "callback_url": "ftp://hooks.example/x"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": 12}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://127.0.0.1:9/hook"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://10.1.2.3/hook"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://169.254.169.254/latest"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://localhost/hook"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://[::1]/hook"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "callback_url": "http://2130706433/hook"}, "INVALID_CALLBACK_URL"),
        ({"prompt": "ok", "seed": -1}, "INVALID_REQUEST"),
        ({"prompt": "ok", "seed": 2**32}, "INVALID_REQUEST"),
        ({"prompt": "ok", "seed": "7"}, "INVALID_REQUEST"),
        ({"prompt": "ok", "seed": 1.5}, "INVALID_REQUEST"),
        ({"prompt": "ok", "seed": True}, "INVALID_REQUEST"),
        ([], "INVALID_REQUEST"),
        ("prompt", "INVALID_REQUEST"),
        (None, "INVALID_REQUEST"),
    ],
)
def test_generate_rejects_bad_field_with_its_code(
    api_only_server: LiveServer, alice: httpx.Client, body: Any, code: str
) -> None:
    before = api_only_server.call(snapshot)
    assert_error(post(alice, body), 400, code)
    assert api_only_server.call(snapshot) == before


def test_generate_rejects_body_that_is_not_json(alice: httpx.Client) -> None:
    response = alice.post(
        "/v1/generate", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompt": "", "aspect_ratio": "2:1", "duration": 5}, "INVALID_PROMPT"),
        ({"prompt": "ok", "aspect_ratio": "2:1", "resolution": "1080p"}, "INVALID_ASPECT_RATIO"),
        ({"prompt": "ok", "resolution": "1080p", "duration": 5}, "INVALID_RESOLUTION"),
        ({"prompt": "ok", "duration": 5, "generate_audio": "x"}, "INVALID_DURATION"),
        ({"prompt": "ok", "generate_audio": "x", "image_urls": ["a", "b"]}, "INVALID_REQUEST"),
        ({"prompt": "ok", "image_urls": ["a", "b"], "callback_url": "ftp://x"}, "TOO_MANY_IMAGES"),
        (
            {"prompt": "ok", "image_urls": ["ftp://x"], "callback_url": "ftp://x"},
            "INVALID_IMAGE_URL",
        ),
        ({"prompt": "ok", "callback_url": "ftp://x", "seed": -5}, "INVALID_CALLBACK_URL"),
    ],
)
def test_generate_reports_the_first_bad_field_in_contract_order(
    alice: httpx.Client, body: dict[str, Any], code: str
) -> None:
    assert_error(post(alice, body), 400, code)


def test_auth_is_checked_before_the_body(api_only_server: LiveServer) -> None:
    with api_only_server.client() as anonymous:
        response = anonymous.post("/v1/generate", content=b"{not json")
    assert_error(response, 401, "INVALID_API_KEY")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer od_unknownkey",
        "od_x",
        "Bearer a b",
    ],
)
def test_generate_rejects_missing_malformed_or_unknown_key(
    api_only_server: LiveServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with api_only_server.client() as client:
        response = client.post("/v1/generate", json=VALID, headers=headers)
        assert_error(response, 401, "INVALID_API_KEY")
        status = client.get("/v1/status", params={"task_id": "x"}, headers=headers)
        assert_error(status, 401, "INVALID_API_KEY")


def test_bearer_scheme_is_case_insensitive(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("casey", 100)
    with api_only_server.client() as client:
        response = client.post(
            "/v1/generate", json=VALID, headers={"Authorization": f"bearer {key}"}
        )
    assert response.status_code == 200


def test_generate_accepts_duration_as_string_or_number(alice: httpx.Client) -> None:
    for duration in ("4", 4, "8", 8, "12", 12):
        response = post(alice, {"prompt": "ok", "duration": duration, "resolution": "480p"})
        assert response.status_code == 200, response.json()


def test_generate_applies_defaults_for_absent_and_null_fields(alice: httpx.Client) -> None:
    body = {
        "prompt": "  a quiet lake  ",
        "aspect_ratio": None,
        "resolution": None,
        "duration": None,
        "generate_audio": None,
        "fixed_lens": None,
        "image_urls": None,
        "callback_url": None,
        "seed": None,
        "some_future_field": {"x": 1},
    }
    created = post(alice, body).json()
    assert created["code"] == 200 and created["message"] == "success"
    assert created["data"]["status"] == "IN_PROGRESS"
    data = alice.get("/v1/status", params={"task_id": created["data"]["task_id"]}).json()["data"]
    request = data["request"]
    assert request["prompt"] == "a quiet lake"
    assert (request["aspect_ratio"], request["resolution"], request["duration"]) == (
        "1:1",
        "720p",
        "8",
    )
    assert request["generate_audio"] is False and request["fixed_lens"] is False
    assert request["image_urls"] == []
    assert isinstance(request["seed"], int) and 0 <= request["seed"] < 2**32
    assert data["consumed_credits"] == 28


def test_generate_accepts_prompt_of_exactly_2000_characters(alice: httpx.Client) -> None:
    assert post(alice, {"prompt": "é" * 2000}).status_code == 200


def test_task_ids_are_opaque_url_safe_and_distinct(alice: httpx.Client) -> None:
    ids = {
        post(alice, {"prompt": f"p{i}", "resolution": "480p", "duration": 4}).json()["data"][
            "task_id"
        ]
        for i in range(20)
    }
    assert len(ids) == 20
    for task_id in ids:
        assert len(task_id) >= 20
        assert all(c.isalnum() or c in "-_" for c in task_id)


def test_data_url_image_is_accepted_and_not_echoed_in_full(alice: httpx.Client) -> None:
    png_1x1 = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
        "RU5ErkJggg=="
    )
    created = post(alice, {"prompt": "ok", "image_urls": [f"data:image/png;base64,{png_1x1}"]})
    assert created.status_code == 200, created.json()
    data = alice.get("/v1/status", params={"task_id": created.json()["data"]["task_id"]}).json()
    echoed = data["data"]["request"]["image_urls"][0]
    assert echoed.startswith("data:image/png;base64,<") and png_1x1 not in echoed


def test_body_over_the_limit_is_413_without_reading_it_all(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, max_body_bytes=1000), with_worker=False).start()
    try:
        key = live.create_account("big", 100)
        with live.client(key) as client:
            response = client.post("/v1/generate", json={"prompt": "x" * 5000})
            chunked = client.post(
                "/v1/generate",
                content=iter([b'{"prompt": "', b"x" * 2000, b'"}']),
                headers={"Content-Type": "application/json"},
            )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert_error(chunked, 413, "PAYLOAD_TOO_LARGE")
    finally:
        live.stop()


def test_options_the_engine_cannot_serve_are_refused_free_of_charge(
    api_only_server: LiveServer,
) -> None:
    # the only worker makes text-to-video without sound
    api_only_server.call(lambda c: fleet.register(c, "t2v", audio=False, image_to_video=False))
    key = api_only_server.create_account("picky", 100)
    before = api_only_server.call(snapshot)
    with api_only_server.client(key) as client:
        audio = post(client, {"prompt": "x", "generate_audio": True})
        image = post(client, {"prompt": "x", "image_urls": ["https://img.example/a.png"]})
        plain = post(client, {"prompt": "x", "duration": 4, "resolution": "480p"})
    assert_error(audio, 400, "UNSUPPORTED_OPTION")
    assert_error(image, 400, "UNSUPPORTED_OPTION")
    assert plain.status_code == 200
    after = api_only_server.call(snapshot)
    assert after["tasks"] == before["tasks"] + 1


def test_generate_is_rate_limited_too(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path, rate_limit_per_minute=2), with_worker=False).start()
    try:
        key = live.create_account("burst", 100)
        with live.client(key) as client:
            codes = [post(client, {"prompt": "x", "duration": 4}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        live.stop()
