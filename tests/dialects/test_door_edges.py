"""Edges of the three doors found by attacking them: hostile text, odd numbers, NUL bytes,
an adaptive ratio nobody resolved yet, retries whose request could not be made again, and
paging while deleting."""

from __future__ import annotations

import base64
import time

import pytest

from opendance.services.ark_flags import parse_flags
from tests.dialects.openai_support import SORA_DEPRECATION, sdk
from tests.support.ark import TASKS, ark_client, text
from tests.support.db import balance, ledger_consistent, snapshot
from tests.support.live import LiveServer
from tests.support.media import png_bytes

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)


def test_flags_cut_from_the_middle_leave_one_space() -> None:
    cut = parse_flags("a red kite --rs 480p over --dur 8 the hills --cf true")
    assert cut.prompt == "a red kite over the hills"
    assert {name: flag.value for name, flag in cut.flags.items()} == {
        "resolution": "480p",
        "duration": "8",
        "camera_fixed": "true",
    }


def test_a_text_of_spaces_is_refused_at_once_and_stalls_nobody(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("spaces", 10)
    with api_only_server.client(key) as client:
        before = api_only_server.call(snapshot)
        started = time.monotonic()
        answer = client.post(
            TASKS, json={"model": "m", "content": [{"type": "text", "text": " " * 60000 + "x"}]}
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == "content[0].text"
        # a single-threaded event loop that scanned it quadratically would take seconds
        assert time.monotonic() - started < 3
        assert api_only_server.call(snapshot) == before
    # the scanner itself is linear: 200,000 spaces in well under a second
    started = time.monotonic()
    assert parse_flags(" " * 200_000 + "x").prompt == "x"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/tasks", {"limit": "9" * 5000}),
        ("/v1/tasks", {"limit": "\uff11"}),
        ("/v1/videos", {"limit": "9" * 5000}),
        (TASKS, {"page_size": "9" * 5000}),
    ],
)
def test_numbers_of_thousands_of_digits_are_refused_not_crashed_on(
    api_only_server: LiveServer, path: str, params: dict[str, str]
) -> None:
    key = api_only_server.create_account("digits", 10)
    with api_only_server.client(key) as client:
        assert client.get(path, params=params).status_code == 400


def test_a_seed_of_thousands_of_digits_is_a_400(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("seeder", 100)
    with api_only_server.client(key) as client:
        answer = client.post(
            "/v1/videos", json={"prompt": "p", "size": "854x480", "seed": "7" * 5000}
        )
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "seed"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/status?task_id=task_a%00b", "seedance"),
        ("/v1/tasks?after=task_a%00b", "seedance"),
        ("/v1/videos/task_a%00b", "openai"),
        ("/v1/videos?after=a%00b", "openai"),
        (f"{TASKS}/task_a%00b", "ark"),
        (f"{TASKS}?filter.model=m%00", "ark"),
        ("/v1/webhooks/deliveries?task_id=%00", "seedance"),
    ],
)
def test_a_nul_in_the_url_is_a_400_in_the_door_s_shape(
    api_only_server: LiveServer, path: str, shape: str
) -> None:
    key = api_only_server.create_account("nul", 10)
    with api_only_server.client(key) as client:
        answer = client.get(path)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    if shape == "seedance":
        assert body["error"] == "INVALID_REQUEST"
    else:
        assert "message" in body["error"]


def test_an_unresolved_adaptive_ratio_reads_as_16_9_in_every_door(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("adaptive", 100)
    ark = ark_client(api_only_server, key)
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    created = ark.content_generation.tasks.create(
        model="m",
        content=[*text("a kite"), {**image, "role": "first_frame"}],
        ratio="adaptive",
        resolution="480p",
    )
    videos = sdk(api_only_server, key)
    assert videos.videos.retrieve(created.id).size == "864x480"
    assert [video.id for video in videos.videos.list()] == [created.id]
    assert ark.content_generation.tasks.get(task_id=created.id).ratio == "adaptive"
    with api_only_server.client(key) as client:
        status = client.get("/v1/status", params={"task_id": created.id})
        assert status.status_code == 200


def test_a_retry_gets_its_answer_after_the_credits_are_spent(api_only_server: LiveServer) -> None:
    # 14 credits buy one 720p 4 s video: the retry must not be refused for the spent balance
    key = api_only_server.create_account("spent", 14)
    image = "data:image/png;base64," + base64.b64encode(png_bytes((10, 200, 10))).decode()
    body = {"prompt": "once", "resolution": "720p", "duration": 4, "image_urls": [image]}
    with api_only_server.client(key) as client:
        headers = {"Idempotency-Key": "lost-answer"}
        first = client.post("/v1/generate", json=body, headers=headers)
        again = client.post("/v1/generate", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    assert api_only_server.call(lambda ctx: balance(ctx, "spent")) == 0


def test_an_openai_retry_after_the_video_was_deleted_answers_the_same(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("forgetful", 100)
    videos = sdk(api_only_server, key)
    options = {"prompt": "kept in memory", "size": "854x480"}
    headers = {"Idempotency-Key": "create-1"}
    first = videos.videos.create(**options, extra_headers=headers)  # type: ignore[arg-type]
    videos.videos.delete(first.id)
    again = videos.videos.create(**options, extra_headers=headers)  # type: ignore[arg-type]
    assert again.model_dump() == first.model_dump()
    assert api_only_server.call(ledger_consistent)


def test_paging_while_deleting_every_video_reaches_the_end(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("tidy", 1000)
    videos = sdk(api_only_server, key)
    made = {videos.videos.create(prompt=f"v{n}", size="854x480").id for n in range(5)}
    deleted = set()
    for video in videos.videos.list(limit=2):  # the SDK pages with after=<last id>
        videos.videos.delete(video.id)
        deleted.add(video.id)
    assert deleted == made
    assert list(videos.videos.list()) == []
