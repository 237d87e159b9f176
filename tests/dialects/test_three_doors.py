"""One store, three doors: a task made through any door is read, listed and cancelled through
every door by its id, each with its own SDK; another account finds none of them anywhere."""

from __future__ import annotations

import openai
import pytest
from volcenginesdkarkruntime._exceptions import ArkNotFoundError

from tests.dialects.openai_support import SORA_DEPRECATION, sdk, wait_until_done
from tests.support.ark import ark_client, text, wait_until
from tests.support.db import ledger_consistent
from tests.support.live import LiveServer, generate, wait_for_status

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)


def _three_tasks(server: LiveServer, key: str) -> dict[str, str]:
    """One finished 480p 4 s task through each door: door -> id."""
    ark = ark_client(server, key)
    with server.client(key) as client:
        seedance = generate(client, prompt="through the Seedance door", resolution="480p")
        assert wait_for_status(client, seedance)["status"] == "SUCCESS"
    videos = sdk(server, key)
    video = videos.videos.create(model="sora-2", prompt="through the OpenAI door", size="854x480")
    assert wait_until_done(videos, video.id).status == "completed"
    created = ark.content_generation.tasks.create(
        model="seedance-2.0", content=text("through the Ark door"), resolution="480p"
    )
    assert wait_until(ark, created.id).status == "succeeded"
    return {"seedance": seedance, "openai": video.id, "ark": created.id}


def test_every_task_is_read_and_listed_through_every_door(server: LiveServer) -> None:
    key = server.create_account("threedoors", 1000)
    made = _three_tasks(server, key)
    videos, ark = sdk(server, key), ark_client(server, key)
    with server.client(key) as client:
        for door, task_id in made.items():
            status = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
            assert status["status"] == "SUCCESS", door
            video = videos.videos.retrieve(task_id)
            assert video.status == "completed" and video.id == task_id
            task = ark.content_generation.tasks.get(task_id=task_id)
            assert task.status == "succeeded" and task.content is not None
            # the same file behind every door's URL
            assert task.content.video_url == status["response"][0]
        listed = {t["task_id"] for t in client.get("/v1/tasks").json()["data"]["tasks"]}
    assert listed == set(made.values())
    assert {video.id for video in videos.videos.list()} == set(made.values())
    assert {task.id for task in ark.content_generation.tasks.list().items} == set(made.values())
    # Ark shows a Seedance-door task as seedance-2.0, and its model filter finds it so
    by_model = ark.content_generation.tasks.list(model="seedance-2.0").items
    assert {task.id for task in by_model} == {made["seedance"], made["ark"]}
    assert {t.id for t in ark.content_generation.tasks.list(model="sora-2").items} == {
        made["openai"]
    }


def test_a_task_is_cancelled_through_another_door_once(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("crossdoor", 100)
    videos, ark = sdk(api_only_server, key), ark_client(api_only_server, key)
    video = videos.videos.create(model="sora-2", prompt="cancelled elsewhere", size="854x480")
    with api_only_server.client(key) as client:
        cancelled = client.post("/v1/cancel", json={"task_id": video.id}).json()["data"]
        assert cancelled["status"] == "FAILED" and cancelled["consumed_credits"] == 0
    assert ark.content_generation.tasks.get(task_id=video.id).status == "cancelled"
    retrieved = videos.videos.retrieve(video.id)
    assert retrieved.status == "failed" and retrieved.error is not None
    assert retrieved.error.code == "cancelled"
    # deleting through the Ark door removes it from every door
    ark.content_generation.tasks.delete(task_id=video.id)
    with pytest.raises(openai.NotFoundError):
        videos.videos.retrieve(video.id)
    with api_only_server.client(key) as client:
        gone = client.get("/v1/status", params={"task_id": video.id})
        assert gone.status_code == 404
    assert api_only_server.call(ledger_consistent)


def test_another_account_finds_nothing_through_any_door(api_only_server: LiveServer) -> None:
    owner = api_only_server.create_account("holder", 100)
    stranger = api_only_server.create_account("stranger", 100)
    with api_only_server.client(owner) as client:
        seedance = generate(client, prompt="mine", resolution="480p")
    video = sdk(api_only_server, owner).videos.create(prompt="mine too", size="854x480")
    ark_task = ark_client(api_only_server, owner).content_generation.tasks.create(
        model="seedance-2.0", content=text("and mine")
    )
    videos, ark = sdk(api_only_server, stranger), ark_client(api_only_server, stranger)
    with api_only_server.client(stranger) as client:
        for task_id in (seedance, video.id, ark_task.id):
            assert client.get("/v1/status", params={"task_id": task_id}).status_code == 404
            assert client.post("/v1/cancel", json={"task_id": task_id}).status_code == 404
            with pytest.raises(openai.NotFoundError):
                videos.videos.retrieve(task_id)
            with pytest.raises(openai.NotFoundError):
                videos.videos.delete(task_id)
            with pytest.raises(ArkNotFoundError):
                ark.content_generation.tasks.get(task_id=task_id)
            with pytest.raises(ArkNotFoundError):
                ark.content_generation.tasks.delete(task_id=task_id)
        assert client.get("/v1/tasks").json()["data"]["tasks"] == []
    assert list(videos.videos.list()) == []
    assert ark.content_generation.tasks.list().total == 0
