"""The dashboard's refusals and each of its pages, in a real browser (with screenshots)."""

from __future__ import annotations

import re
from functools import cache
from io import BytesIO

from PIL import Image
from playwright.sync_api import expect
from tests.support.browser import Site, media_duration
from tests.support.live import wait_for_status


def test_a_wrong_password_shows_why_and_keeps_the_name(site: Site) -> None:
    site.add_user("alice")
    site.sign_in("alice", "wrong password")
    page = site.page
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    expect(page.get_by_label("Account name or e-mail")).to_have_value("alice")
    expect(page).to_have_url(re.compile(r"/dashboard/signin"))
    site.screenshot("signin-wrong-password")


def test_a_form_with_a_forged_csrf_token_is_refused(site: Site) -> None:
    site.add_user("alice")
    site.sign_in("alice")
    page = site.page
    page.eval_on_selector_all(
        "input[name=csrf_token]", "fields => fields.forEach(f => f.value = 'forged')"
    )
    page.get_by_label("Name").fill("forged key")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="This form was refused")).to_be_visible()
    site.screenshot("csrf-refused")
    site.go("API keys")
    expect(page.get_by_text("forged key")).to_have_count(0)


def test_another_users_task_page_is_not_found(site: Site) -> None:
    site.add_user("alice")
    bob_key = site.add_user("bob")
    with site.server.client(bob_key) as api:
        task_id = api.post(
            "/v1/generate", json={"prompt": "bob's", "resolution": "480p", "duration": 4}
        ).json()["data"]["task_id"]
    site.sign_in("alice")
    answer = site.page.goto(f"{site.url}/dashboard/tasks/{task_id}")
    assert answer is not None and answer.status == 404
    expect(site.page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(site.page.get_by_text("bob's")).to_have_count(0)


def test_every_page_renders_for_an_admin_with_history(site: Site) -> None:
    key = site.add_user("ops", admin=True)
    site.add_user("alice", credits=250)
    with site.server.client(key) as api:
        done = api.post(
            "/v1/generate",
            json={
                "prompt": "A neon city street in the rain, reflections on the asphalt",
                "aspect_ratio": "16:9",
                "resolution": "480p",
                "duration": 4,
                "generate_audio": True,
            },
        ).json()["data"]["task_id"]
        wait_for_status(api, done)
    site.sign_in("ops")
    page = site.page

    site.go("Tasks")
    expect(page.locator(".task-item img")).to_have_count(1)  # the poster thumbnail
    site.screenshot("tasks")
    page.get_by_role("link", name=re.compile("neon city")).click()
    assert abs(media_duration(page.locator("video.player")) - 4.0) < 0.05
    expect(page.get_by_test_id("request-json")).to_contain_text('"generate_audio": true')
    site.screenshot("task")

    site.go("Credits")
    expect(page.get_by_test_id("balance")).to_have_text("986")  # 1000 - 14 (480p 4 s audio)
    site.screenshot("credits")

    site.go("Webhooks")
    secret = page.get_by_test_id("webhook-secret")
    expect(secret).to_have_attribute("type", "password")
    page.get_by_role("button", name="Reveal").click()
    expect(secret).to_have_attribute("type", "text")
    assert secret.input_value().startswith("whsec_")
    site.screenshot("webhooks")

    site.go("Operator")
    expect(page.get_by_role("cell", name="alice")).to_be_visible()
    page.get_by_label("Account name").fill("newcomer")
    page.get_by_label("Starting credits").fill("50")
    page.get_by_role("button", name="Create and get invite link").click()
    expect(page.get_by_test_id("invite-url")).to_have_value(re.compile("/dashboard/invite/"))
    site.screenshot("operator")

    site.go("Playground")
    expect(page.get_by_label(re.compile("playground key"))).to_be_checked()
    page.get_by_label("Generate audio").check()
    expect(page.get_by_test_id("price")).to_have_text("56")  # 720p 8 s with audio
    page.get_by_text("Upload", exact=True).click()
    page.get_by_label(re.compile("^Image file")).set_input_files(
        files=[{"name": "first.png", "mimeType": "image/png", "buffer": _png()}]
    )
    expect(page.get_by_test_id("json-body")).to_contain_text(
        f"data:image/png;base64,<{len(_png())} bytes>"
    )
    page.get_by_label("Seed (optional)").fill("42")
    expect(page.get_by_test_id("curl")).to_contain_text('"seed": 42')
    page.get_by_label("Prompt").fill("x" * 2001)
    expect(page.locator("#prompt-count")).to_have_text("2001 / 2000")
    expect(page.locator("#prompt-count")).to_have_class(re.compile("over"))
    page.get_by_label("Prompt").fill("A lighthouse on a cliff, waves below, storm light")
    site.screenshot("playground")

    page.set_viewport_size({"width": 390, "height": 844})
    site.screenshot("playground-phone")
    site.go("API keys")
    site.screenshot("keys-phone")


@cache
def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 36), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()
