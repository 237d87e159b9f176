"""The task list in a real browser, on a server with no worker (tasks stay queued): every
door's tasks with their door, and a queued task cancelled and refunded from the list."""

from __future__ import annotations

import re

import pytest
from openai import OpenAI
from playwright.sync_api import expect
from tests.dialects.openai_support import SORA_DEPRECATION
from tests.support.browser import Site

from opendance.services.tasks import CANCELLED_MESSAGE


@pytest.mark.filterwarnings(SORA_DEPRECATION)
def test_a_queued_task_is_cancelled_from_the_list_and_refunded(queue_site: Site) -> None:
    site = queue_site
    key = site.add_user("alice", credits=100)
    with site.server.client(key) as api:
        answer = api.post(
            "/v1/generate",
            json={"prompt": "A harbour at night, lanterns", "resolution": "720p", "duration": 8},
        )
        seedance = answer.json()["data"]["task_id"]  # 28 credits
    # through the OpenAI Videos API with the official SDK: 480p 4 s, 8 credits
    openai = (
        OpenAI(base_url=site.url + "/v1", api_key=key, max_retries=0)
        .videos.create(model="sora-2", prompt="A paper boat on a pond", size="854x480", seconds="4")
        .id
    )
    site.sign_in("alice")
    site.go("Tasks")
    page = site.page
    balance = page.locator(".balance")
    expect(balance).to_have_text("64 credits")

    made_by_openai = page.locator(".task-item", has_text="A paper boat on a pond")
    expect(made_by_openai.get_by_test_id("door")).to_contain_text("OpenAI")
    expect(made_by_openai.get_by_test_id("door")).to_contain_text("sora-2")
    queued = page.locator(".task-item", has_text="A harbour at night")
    expect(queued.get_by_test_id("door")).to_have_text(re.compile(r"Seedance\s*$"))
    expect(queued.locator(".status")).to_have_text("in progress")
    site.screenshot("tasks-doors")

    queued.get_by_role("button", name=f"Cancel task {seedance}").click()
    expect(page.get_by_role("status").filter(has_text="was cancelled")).to_contain_text(seedance)
    expect(queued.locator(".status")).to_have_text("failed")
    expect(queued).to_contain_text("0 credits")
    expect(queued).to_contain_text(CANCELLED_MESSAGE)
    expect(queued.get_by_role("button", name=re.compile("^Cancel"))).to_have_count(0)
    expect(balance).to_have_text("92 credits")  # the 28 came back
    expect(made_by_openai.get_by_role("button", name=f"Cancel task {openai}")).to_be_visible()
    site.screenshot("tasks-cancelled")

    with site.server.client(key) as api:
        data = api.get("/v1/status", params={"task_id": seedance}).json()["data"]
    assert (data["status"], data["consumed_credits"]) == ("FAILED", 0)
    assert data["error_message"] == CANCELLED_MESSAGE

    made_by_openai.get_by_role("link", name=re.compile("paper boat")).click()
    expect(page.get_by_role("definition").filter(has_text="OpenAI")).to_contain_text("sora-2")
    page.get_by_role("button", name=f"Cancel task {openai}").click()
    expect(page.get_by_role("status").filter(has_text="was cancelled")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Task"))).to_contain_text("failed")
    expect(balance).to_have_text("100 credits")
