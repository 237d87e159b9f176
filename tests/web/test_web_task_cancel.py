"""The task pages over real HTTP: every door's tasks listed with their door (each made through
its own API), cancel forms (CSRF, ownership, a task that ended meanwhile, where they lead back
to), deleted tasks gone."""

from __future__ import annotations

import re

import httpx
from tests.support.db import balance
from tests.support.live import LiveServer
from tests.support.web import add_user, browser, csrf_of, sign_in

from opendance.services.tasks import CANCELLED_MESSAGE


def _generate(server: LiveServer, key: str, prompt: str = "a lighthouse in fog") -> str:
    with server.client(key) as api:
        answer = api.post(
            "/v1/generate", json={"prompt": prompt, "resolution": "480p", "duration": 4}
        )
        assert answer.status_code == 200, answer.text
        task_id: str = answer.json()["data"]["task_id"]
        return task_id


def _items(page: httpx.Response) -> dict[str, str]:
    """The task list's items by task id."""
    items = re.findall(r'<li class="task-item">(.*?)</li>', page.text, flags=re.S)
    found = {}
    for item in items:
        task_id = re.search(r'href="/dashboard/tasks/([^"]+)"', item)
        assert task_id
        found[task_id.group(1)] = item
    return found


def _cancel(client: httpx.Client, page: str, task_id: str, **fields: str) -> httpx.Response:
    token = csrf_of(client.get(page))
    return client.post(f"/dashboard/tasks/{task_id}/cancel", data={"csrf_token": token, **fields})


def test_tasks_of_every_door_are_listed_with_their_door(api_only_server: LiveServer) -> None:
    key = add_user(api_only_server, "alice")
    seedance = _generate(api_only_server, key)
    with api_only_server.client(key) as api:
        openai = api.post(
            "/v1/videos",
            json={"model": "sora-2", "prompt": "a paper boat", "size": "854x480", "seconds": "4"},
        ).json()["id"]
        ark = api.post(
            "/api/v3/contents/generations/tasks",
            json={
                "model": "seedance-2.0",
                "content": [{"type": "text", "text": "a red kite"}],
                "resolution": "480p",
                "duration": 4,
            },
        ).json()["id"]
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        items = _items(client.get("/dashboard/tasks"))
        assert list(items) == [ark, openai, seedance]
        for task_id, door, model in (
            (seedance, "Seedance", None),
            (openai, "OpenAI", "sora-2"),
            (ark, "Ark", "seedance-2.0"),
        ):
            shown = re.search(r'data-testid="door">(.*?)</div>', items[task_id], flags=re.S)
            assert shown and f">{door}</span>" in shown.group(1)
            assert (model is None) or model in shown.group(1)
        detail = client.get(f"/dashboard/tasks/{openai}").text
        assert re.search(r"<dt>Door</dt><dd>OpenAI · <span[^>]*>sora-2</span>", detail)


def test_cancel_refunds_a_queued_task_and_comes_back_with_a_notice(
    api_only_server: LiveServer,
) -> None:
    key = add_user(api_only_server, "alice", credits=100)
    task_id = _generate(api_only_server, key)
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        page = "/dashboard/tasks?status=IN_PROGRESS"
        assert f"/dashboard/tasks/{task_id}/cancel" in client.get(page).text
        assert api_only_server.call(lambda c: balance(c, "alice")) == 92
        answer = _cancel(client, page, task_id, back=page)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{page}&cancelled={task_id}"
        shown = client.get(answer.headers["location"]).text
        assert "was cancelled; its credits were refunded" in shown
        assert task_id in shown and f"/dashboard/tasks/{task_id}/cancel" not in shown
        listed = _items(client.get("/dashboard/tasks"))[task_id]
        assert "0 credits" in listed and CANCELLED_MESSAGE in listed
        assert 'class="status failed"' in listed and "Cancel" not in listed

        again = _cancel(client, "/dashboard/tasks", task_id, back=f"/dashboard/tasks/{task_id}")
        assert again.headers["location"] == f"/dashboard/tasks/{task_id}?not_cancelled={task_id}"
        assert "had already finished" in client.get(again.headers["location"]).text
    assert api_only_server.call(lambda c: balance(c, "alice")) == 100


def test_cancel_forms_are_refused_without_their_token_or_for_anothers_task(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    bob_key = add_user(api_only_server, "bob")
    bobs = _generate(api_only_server, bob_key)
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        assert _cancel(client, "/dashboard/tasks", bobs).status_code == 404
        client.get("/dashboard/tasks")
        forged = client.post(f"/dashboard/tasks/{bobs}/cancel", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    with browser(api_only_server) as stranger:
        answer = stranger.post(f"/dashboard/tasks/{bobs}/cancel", data={})
        assert answer.status_code == 303 and "/dashboard/signin" in answer.headers["location"]
    with api_only_server.client(bob_key) as api:
        status = api.get("/v1/status", params={"task_id": bobs}).json()["data"]["status"]
        assert status == "IN_PROGRESS"


def test_a_cancel_form_leads_back_only_to_task_pages(api_only_server: LiveServer) -> None:
    key = add_user(api_only_server, "alice")
    first, second = _generate(api_only_server, key), _generate(api_only_server, key)
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        away = _cancel(client, "/dashboard/tasks", first, back="https://evil.example/x")
        assert away.headers["location"] == f"/dashboard/tasks?cancelled={first}"
        slashes = _cancel(client, "/dashboard/tasks", second, back="//evil.example/dashboard")
        assert slashes.headers["location"] == f"/dashboard/tasks?cancelled={second}"


def test_a_deleted_task_is_neither_listed_nor_shown(api_only_server: LiveServer) -> None:
    key = add_user(api_only_server, "alice")
    kept, gone = _generate(api_only_server, key, "kept"), _generate(api_only_server, key, "gone")
    with api_only_server.client(key) as api:  # OpenAI's delete cancels a queued task first
        assert api.delete(f"/v1/videos/{gone}").json()["deleted"] is True
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        page = client.get("/dashboard/tasks")
        assert list(_items(page)) == [kept]
        assert client.get(f"/dashboard/tasks/{gone}").status_code == 404
