"""The whole way of a user, in a real browser: sign in, make a key, generate a video in the
playground, watch it play, revoke the key."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect
from tests.support.browser import Site, media_duration


def test_sign_in_key_playground_video_and_revoke(site: Site) -> None:
    site.add_user("alice")
    page = site.page
    site.page.goto(site.url + "/")
    expect(page).to_have_url(re.compile(r"/dashboard/signin"))
    site.screenshot("signin")
    site.sign_in("alice")
    expect(page).to_have_url(re.compile(r"/dashboard/keys$"))

    page.get_by_label("Name").fill("browser flow")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key").input_value()
    assert secret.startswith("od_")
    site.screenshot("keys-new")

    site.go("Playground")
    page.get_by_label("Paste a key").check()
    page.get_by_label("API key to use").fill(secret)
    page.get_by_label("Prompt").fill("A paper boat drifting across a calm lake at dawn")
    page.get_by_label("Aspect ratio").select_option("16:9")
    page.get_by_label("Resolution").select_option("480p")
    page.get_by_label("Duration").select_option("4")
    expect(page.get_by_test_id("price")).to_have_text("8")
    expect(page.get_by_test_id("curl")).to_contain_text('"duration": "4"')
    expect(page.get_by_test_id("json-body")).to_contain_text('"resolution": "480p"')
    page.get_by_role("button", name=re.compile("^Generate")).click()

    video = page.get_by_test_id("video")
    expect(video).to_be_visible(timeout=60_000)
    duration = media_duration(video)
    assert abs(duration - 4.0) < 0.05
    expect(page.locator("#log")).to_contain_text('"status":"SUCCESS"')
    site.screenshot("playground-done")

    site.go("API keys")
    page.locator("tr", has_text="browser flow").get_by_role(
        "button", name=re.compile("Revoke")
    ).click()
    expect(page.locator("tr", has_text="browser flow")).to_contain_text("revoked")
    answer = httpx.get(
        site.url + "/v1/status",
        params={"task_id": "task_x"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 401 and answer.json()["error"] == "INVALID_API_KEY"
