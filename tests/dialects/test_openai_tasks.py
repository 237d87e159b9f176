"""Videos as tasks of the one store, through the SDK, on a server without workers (videos stay
queued): listing page by page, deleting a queued video, Idempotency-Key, tenancy, and tasks
of the other doors read as videos."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.dialects.openai_support import SORA_DEPRECATION, error_of, sdk, task_of
from tests.support.db import balance, ledger_consistent, snapshot
from tests.support.live import LiveServer, generate
from tests.support.media import png_bytes

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)


def test_the_list_pages_through_to_the_last_page_in_either_order(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("lister", 1000)
    client = sdk(api_only_server, key)
    made = [client.videos.create(prompt=f"video {i}", size="864x480").id for i in range(5)]
    with api_only_server.client(key) as http:
        made.append(generate(http, prompt="from the Seedance door", resolution="480p"))

    first = client.videos.list(limit=2)
    assert [video.id for video in first.data] == made[::-1][:2]
    assert (first.has_more, first.last_id) == (True, made[-2])
    pages = [first]
    while pages[-1].has_next_page():
        pages.append(pages[-1].get_next_page())
    assert [len(page.data) for page in pages] == [2, 2, 2]
    assert pages[-1].has_more is False
    assert [video.id for video in client.videos.list(limit=2)] == made[::-1]  # auto-paging
    oldest_first = [video.id for video in client.videos.list(order="asc", limit=4)]
    assert oldest_first == made
    seedance = client.videos.retrieve(made[-1])
    assert (seedance.model, seedance.size, seedance.seconds) == (
        "sora-2",
        "640x640",
        "8",
    )  # 1:1 480p

    with api_only_server.client(key) as http:
        raw = http.get("/v1/videos", params={"limit": 3, "after": made[3]}).json()
        empty = http.get("/v1/videos", params={"order": "asc", "after": made[-1]}).json()
    assert raw["object"] == "list" and raw["first_id"] == made[2]
    assert [video["id"] for video in raw["data"]] == made[2::-1]
    assert (raw["last_id"], raw["has_more"]) == (made[0], False)
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_deleting_a_queued_video_cancels_and_refunds_it(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("changed-mind", 100)
    client = sdk(api_only_server, key)
    video = client.videos.create(prompt="never mind", size="1280x720", seconds="8")
    assert api_only_server.call(lambda c: balance(c, "changed-mind")) == 100 - 28
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted) == (video.id, True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert api_only_server.call(lambda c: balance(c, "changed-mind")) == 100
    assert api_only_server.call(ledger_consistent)


def test_a_cancelled_task_reads_as_failed_with_the_code_cancelled(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("canceller", 100)
    client = sdk(api_only_server, key)
    video = client.videos.create(prompt="stop", size="864x480")
    with api_only_server.client(key) as http:
        assert http.post("/v1/cancel", json={"task_id": video.id}).status_code == 200
    cancelled = client.videos.retrieve(video.id)
    assert (cancelled.status, cancelled.progress) == ("failed", 100)
    assert cancelled.error is not None and cancelled.error.code == "cancelled"
    assert "refunded" in cancelled.error.message
    assert cancelled.completed_at is not None


def test_an_idempotency_key_replays_the_create_and_refuses_another_body(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("careful", 100)
    client = sdk(api_only_server, key)
    image = ("a.png", png_bytes((10, 200, 10)), "image/png")

    def create(prompt: str, idempotency_key: str) -> httpx.Response:
        return client.videos.with_raw_response.create(
            prompt=prompt,
            size="864x480",
            input_reference=image,
            extra_headers={"Idempotency-Key": idempotency_key},
        ).http_response

    first = create("the same", "key-1")
    again = create("the same", "key-1")  # a new form boundary: the same form all the same
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert api_only_server.call(lambda c: balance(c, "careful")) == 100 - 8
    before = api_only_server.call(snapshot)

    with pytest.raises(openai.ConflictError) as conflict:
        create("another", "key-1")
    assert conflict.value.status_code == 409
    assert conflict.value.response.headers["x-should-retry"] == "false"
    assert error_of(conflict.value.response)["code"] == "idempotency_conflict"
    assert api_only_server.call(snapshot) == before
    assert create("another", "key-2").json()["id"] != first.json()["id"]


def test_another_account_sees_no_video_of_this_one(api_only_server: LiveServer) -> None:
    owner_key = api_only_server.create_account("owner", 100)
    other_key = api_only_server.create_account("other", 100)
    owner, other = sdk(api_only_server, owner_key), sdk(api_only_server, other_key)
    video = owner.videos.create(prompt="mine", size="864x480")
    calls = {
        "retrieve": lambda: other.videos.retrieve(video.id),
        "delete": lambda: other.videos.delete(video.id),
        "content": lambda: other.videos.download_content(video.id),
        "remix": lambda: other.videos.remix(video.id, prompt="theirs"),
    }
    for name, call in calls.items():
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert video.id in caught.value.message, name
    assert other.videos.list().data == []
    with pytest.raises(openai.BadRequestError) as listed:
        other.videos.list(after=video.id)
    assert listed.value.body["param"] == "after"  # type: ignore[index]
    assert owner.videos.retrieve(video.id).status == "queued"
    assert task_of(api_only_server, "owner", video.id).id == video.id
    assert api_only_server.call(lambda c: balance(c, "other")) == 100


def test_a_reference_object_carries_a_data_url_or_an_http_url(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("referrer", 100)
    image = png_bytes((0, 0, 250))
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    # a form spells the object in OpenAI's query-string style: input_reference[image_url]
    form = {"prompt": "from a data URL", "size": "864x480", "input_reference[image_url]": data_url}
    body = b"".join(
        b'--b0\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in form.items()
    )
    with api_only_server.client(key) as http:
        inline = http.post(
            "/v1/videos",
            content=body + b"--b0--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b0"},
        )
        linked = http.post(
            "/v1/videos",
            json={
                "prompt": "from a link",
                "size": "864x480",
                "input_reference": {"image_url": "https://example.com/frame.png"},
            },
        )
    assert inline.status_code == linked.status_code == 200, (inline.text, linked.text)
    stored = task_of(api_only_server, "referrer", inline.json()["id"]).request.image_url
    assert stored == f"data:image/png;base64,<{len(image)} bytes>"
    request = task_of(api_only_server, "referrer", linked.json()["id"]).request
    assert request.image_url == "https://example.com/frame.png"  # the worker fetches it
