"""Real answers against the document: a finished, a queued and a cancelled task through each
door, read through every door, and each task's webhook body, all valid as the document says.
(The fuzz test rarely reaches a task that exists; this one reads only tasks that do.)"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import schemathesis
from jsonschema import Draft202012Validator

from opendance.api import openapi
from opendance.db import tasks as task_rows
from opendance.services.context import AppContext
from opendance.services.task_bodies import terminal_body
from tests.support.live import LiveServer

DOC = openapi.build_document()
TASKS = openapi.ARK_TASKS


def _create(client: httpx.Client, door: str, prompt: str) -> str:
    if door == "seedance":
        answer = client.post(
            "/v1/generate", json={"prompt": prompt, "resolution": "480p", "duration": 4}
        )
        task_id: str = answer.json()["data"]["task_id"]
    elif door == "openai":
        answer = client.post("/v1/videos", json={"prompt": prompt, "size": "854x480"})
        task_id = answer.json()["id"]
    else:
        body = {
            "model": "seedance-2.0",
            "content": [{"type": "text", "text": prompt}],
            "resolution": "480p",
            "return_last_frame": True,
        }
        answer = client.post(TASKS, json=body)
        task_id = answer.json()["id"]
    assert answer.status_code == 200, answer.text
    return task_id


def _finished(client: httpx.Client, task_id: str) -> None:
    deadline = time.monotonic() + 120
    while client.get("/v1/status", params={"task_id": task_id}).json()["data"]["status"] not in (
        "SUCCESS",
        "FAILED",
    ):
        assert time.monotonic() < deadline, f"{task_id} did not finish"
        time.sleep(0.1)


@pytest.mark.only_on("sqlite")
def test_answers_about_real_tasks_match_the_document(server: LiveServer) -> None:
    key = server.create_account("documented", 10_000)
    schema = schemathesis.openapi.from_dict(DOC)
    checked = 0

    def check(path: str, method: str, answer: httpx.Response) -> None:
        nonlocal checked
        assert str(answer.status_code) in DOC["paths"][path][method]["responses"], (
            path,
            answer.text,
        )
        schema[path][method.upper()].validate_response(answer)
        checked += 1

    with server.client(key) as client:
        done = {door: _create(client, door, f"a {door} lighthouse") for door in openapi_doors()}
        for task_id in done.values():
            _finished(client, task_id)
        ids = list(done.values())
        for task_id in ids:
            check("/v1/status", "get", client.get("/v1/status", params={"task_id": task_id}))
            check("/v1/videos/{video_id}", "get", client.get(f"/v1/videos/{task_id}"))
            check(TASKS + "/{task_id}", "get", client.get(f"{TASKS}/{task_id}"))
            for variant in ("video", "thumbnail"):
                content = client.get(f"/v1/videos/{task_id}/content", params={"variant": variant})
                check("/v1/videos/{video_id}/content", "get", content)
            status = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
            for url in (status["response"][0], status["poster_url"]):
                check("/files/{key}", "get", client.get(url.removeprefix(server.url)))
        check("/v1/tasks", "get", client.get("/v1/tasks", params={"limit": 2}))
        check("/v1/videos", "get", client.get("/v1/videos"))
        check(TASKS, "get", client.get(TASKS))
        check("/v1/webhooks/deliveries", "get", client.get("/v1/webhooks/deliveries"))
        _webhook_bodies_match(server, ids)
        # a finished task cannot be cancelled; the OpenAI and Ark doors delete it
        check("/v1/cancel", "post", client.post("/v1/cancel", json={"task_id": ids[0]}))
        check("/v1/videos/{video_id}", "delete", client.delete(f"/v1/videos/{ids[1]}"))
        check(TASKS + "/{task_id}", "delete", client.delete(f"{TASKS}/{ids[2]}"))
        check("/healthz", "get", client.get("/healthz"))
        check("/readyz", "get", client.get("/readyz"))
        check("/", "get", client.get("/"))
    assert checked > 30


def openapi_doors() -> tuple[str, ...]:
    return ("seedance", "openai", "ark")


def _webhook_bodies_match(server: LiveServer, ids: list[str]) -> None:
    """The body each door's task POSTs to its callback_url, against the document's webhook."""
    names = ("seedanceTaskEnded", "openaiVideoEnded", "arkTaskEnded")

    async def bodies(ctx: AppContext) -> list[dict[str, Any]]:
        found = []
        async with ctx.db.read() as conn:
            for task_id in ids:
                record = await task_rows.get_task(conn, task_id)
                assert record is not None
                found.append(terminal_body(ctx, record.view()))
        return found

    for name, body in zip(names, server.call(bodies), strict=True):
        hook = DOC["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]
        # the webhook's schema with the document's components, so that its $refs resolve
        root = {**hook["schema"], "components": DOC["components"]}
        errors = sorted(str(e.message) for e in Draft202012Validator(root).iter_errors(body))
        assert errors == [], (name, errors)
