"""The playground's request in every dialect, in a real browser: each snippet follows the form,
the tabs switch between them, and each dialect's curl, run as a shell would run it, makes the
task it describes."""

from __future__ import annotations

import ast
import inspect
import re
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from openai.resources.videos import Videos
from PIL import Image
from playwright.sync_api import Page, expect
from tests.support.browser import Site
from tests.support.curl import parse_curl, send

from opendance.client import Client, GenerateOptions

PROMPT = 'A lantern\'s glow on a snowy street, "quiet" and $calm'
SNIPPETS = ("curl", "curl-openai", "curl-ark", "python-opendance", "python-openai", "json-body")


def _snippet(page: Page, name: str) -> str:
    return page.get_by_test_id(name).text_content() or ""


def _fill(page: Page, aspect: str, resolution: str, duration: str) -> None:
    page.get_by_label("Aspect ratio").select_option(aspect)
    page.get_by_label("Resolution").select_option(resolution)
    page.get_by_label("Duration").select_option(duration)


def test_every_snippet_follows_the_form_and_the_tabs_show_one_at_a_time(site: Site) -> None:
    site.add_user("alice")
    site.sign_in("alice")
    site.go("Playground")
    page = site.page
    page.get_by_label("Prompt").fill(PROMPT)
    _fill(page, "16:9", "720p", "8")

    seedance = page.get_by_test_id("curl")
    expect(seedance).to_contain_text(f"{site.url}/v1/generate")
    expect(seedance).to_contain_text('"aspect_ratio": "16:9"')
    openai = page.get_by_test_id("curl-openai")
    expect(openai).to_contain_text(f"'{site.url}/v1/videos'")
    expect(openai).to_contain_text("-F 'size=1280x720'")
    expect(openai).to_contain_text("-F 'seconds=8'")
    expect(openai).to_contain_text("-F 'model=sora-2'")
    expect(openai).not_to_contain_text("generate_audio")
    expect(openai).to_contain_text("--form-string 'prompt=A lantern'\\''s glow")
    ark = page.get_by_test_id("curl-ark")
    expect(ark).to_contain_text(f"{site.url}/api/v3/contents/generations/tasks")
    expect(ark).to_contain_text('"ratio": "16:9"')
    expect(ark).to_contain_text(re.compile(r'"duration": 8\b'))  # a number, not "8"
    ours = page.get_by_test_id("python-opendance")
    expect(ours).to_contain_text('aspect_ratio="16:9"')
    expect(ours).to_contain_text("duration=8,")
    theirs = page.get_by_test_id("python-openai")
    expect(theirs).to_contain_text(f'base_url="{site.url}/v1",')
    expect(ours).to_contain_text(f'with Client("{site.url}") as client:')
    expect(theirs).to_contain_text('size="1280x720"')
    expect(theirs).not_to_contain_text("extra_body")

    _fill(page, "9:16", "480p", "4")
    page.get_by_label("Generate audio").check()
    page.get_by_label(re.compile("^Fixed lens")).check()
    page.get_by_label("Seed (optional)").fill("42")
    expect(seedance).to_contain_text('"seed": 42')
    expect(openai).to_contain_text("-F 'size=480x854'")
    expect(openai).to_contain_text("-F 'seconds=4'")
    for extra in ("generate_audio=true", "fixed_lens=true", "seed=42"):
        expect(openai).to_contain_text(f"-F '{extra}'")
    for field in ('"ratio": "9:16"', '"resolution": "480p"', '"camera_fixed": true', '"seed": 42'):
        expect(ark).to_contain_text(field)
    expect(ark).to_contain_text('"generate_audio": true')
    for arg in ("generate_audio=True", "fixed_lens=True", "seed=42", "duration=4"):
        expect(ours).to_contain_text(arg)
    expect(theirs).to_contain_text('size="480x854"')
    expect(theirs).to_contain_text(
        'extra_body={"generate_audio": True, "fixed_lens": True, "seed": 42}'
    )
    hook = "https://example.com/hooks/video?kind=done"
    page.get_by_label("Callback URL (optional)").fill(hook)
    expect(openai).to_contain_text(f"--form-string 'callback_url={hook}'")
    expect(ark).to_contain_text(f'"callback_url": "{hook}"')
    expect(ours).to_contain_text(f'callback_url="{hook}"')
    expect(theirs).to_contain_text(f'"callback_url": "{hook}"')
    page.get_by_label("Callback URL (optional)").fill("")

    _fill(page, "1:1", "720p", "12")
    expect(openai).to_contain_text("-F 'size=960x960'")
    expect(theirs).to_contain_text('seconds="12"')
    _fill(page, "16:9", "480p", "4")
    expect(openai).to_contain_text("-F 'size=854x480'")

    frame = "https://example.com/frames/first.jpg"
    page.get_by_role("radiogroup", name="Image source").get_by_text("Image URL").click()
    page.get_by_role("textbox", name="Image URL").fill(frame)
    expect(seedance).to_contain_text(f'"image_urls": [\n    "{frame}"')
    expect(openai).to_contain_text(f"--form-string 'input_reference[image_url]={frame}'")
    expect(page.get_by_test_id("curl-openai-note")).to_be_hidden()
    expect(ark).to_contain_text(f'"url": "{frame}"')
    expect(ours).to_contain_text(f'image_urls=["{frame}"]')
    expect(theirs).to_contain_text(f'input_reference={{"image_url": "{frame}"}}')

    page.get_by_text("Upload", exact=True).click()
    page.get_by_label(re.compile("^Image file")).set_input_files(
        files=[{"name": "first.png", "mimeType": "image/png", "buffer": _png()}]
    )
    expect(openai).to_contain_text("-F 'input_reference=@first.png'")
    expect(page.get_by_test_id("curl-openai-note")).to_contain_text("first.png")
    expect(ark).to_contain_text(f'"url": "data:image/png;base64,<{len(_png())} bytes>"')
    expect(ark).to_contain_text('"role": "first_frame"')
    expect(ours).to_contain_text('image="first.png"')
    expect(theirs).to_contain_text('input_reference=open("first.png", "rb")')
    ark_full = page.locator("#curl-ark-full").input_value()
    assert "data:image/png;base64,iVBOR" in ark_full  # the copy carries the whole image

    tabs = page.get_by_role("tablist")
    for name in ("curl · OpenAI", "Python · openai SDK", "curl · Ark", "curl · Seedance"):
        tabs.get_by_role("tab", name=name).click()
        expect(tabs.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tabpanel")).to_have_count(1)
        expect(page.get_by_role("tabpanel")).to_have_attribute(
            "aria-labelledby", page.get_by_role("tab", name=name).get_attribute("id") or ""
        )
    tabs.get_by_role("tab", name="Python · Opendance SDK").click()
    site.screenshot("playground-python")
    tabs.get_by_role("tab", name="curl · OpenAI").click()
    site.screenshot("playground-openai-curl")

    _check_python(_snippet(page, "python-opendance"), _snippet(page, "python-openai"))


def test_the_curl_of_every_dialect_makes_the_task_it_shows(
    queue_site: Site, tmp_path: Path
) -> None:
    site = queue_site
    key = site.add_user("alice", credits=100)
    site.sign_in("alice")
    site.go("Playground")
    page = site.page
    page.get_by_label("Prompt").fill(PROMPT)
    _fill(page, "9:16", "480p", "4")
    page.get_by_label(re.compile("^Fixed lens")).check()
    page.get_by_label("Seed (optional)").fill("7")
    expect(page.get_by_test_id("curl")).to_contain_text('"seed": 7')
    expect(page.get_by_test_id("curl-ark")).to_contain_text('"seed": 7')

    made = []
    with httpx.Client(timeout=30) as http:
        for snippet, task_id_of in (
            ("curl", lambda body: body["data"]["task_id"]),
            ("curl-ark", lambda body: body["id"]),
            ("curl-openai", lambda body: body["id"]),
        ):
            command = page.locator(f"#{snippet}-full").input_value()
            assert command == _snippet(page, snippet)  # no inline image: the copy is as shown
            answer = send(parse_curl(command, {"OPENDANCE_API_KEY": key}), http)
            assert answer.status_code == 200, answer.text
            made.append(task_id_of(answer.json()))
        statuses = [
            http.get(
                f"{site.url}/v1/status",
                params={"task_id": task_id},
                headers={"Authorization": f"Bearer {key}"},
            ).json()["data"]
            for task_id in made
        ]
    for status in statuses:  # the same request, whichever door it came through
        assert status["request"]["prompt"] == PROMPT
        assert (status["request"]["aspect_ratio"], status["request"]["resolution"]) == (
            "9:16",
            "480p",
        )
        assert status["request"]["duration"] == "4" and status["request"]["fixed_lens"] is True
        assert status["request"]["seed"] == 7 and status["consumed_credits"] == 8

    # the OpenAI curl with its first frame uploaded from the disk
    page.get_by_text("Upload", exact=True).click()
    page.get_by_label(re.compile("^Image file")).set_input_files(
        files=[{"name": "first.png", "mimeType": "image/png", "buffer": _png()}]
    )
    expect(page.get_by_test_id("curl-openai")).to_contain_text("input_reference=@first.png")
    (tmp_path / "first.png").write_bytes(_png())
    command = parse_curl(_snippet(page, "curl-openai"), {"OPENDANCE_API_KEY": key})
    with httpx.Client(timeout=30) as http:
        answer = send(command, http, files_dir=tmp_path)
        assert answer.status_code == 200, answer.text
        framed = http.get(
            f"{site.url}/v1/status",
            params={"task_id": answer.json()["id"]},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["data"]
    assert framed["request"]["image_urls"] == [f"data:image/png;base64,<{len(_png())} bytes>"]

    site.go("Tasks")
    for task_id, door in zip(made, ("Seedance", "Ark", "OpenAI"), strict=True):
        item = page.locator(".task-item", has=page.locator(f'a[href="/dashboard/tasks/{task_id}"]'))
        expect(item.get_by_test_id("door")).to_contain_text(door)


def _check_python(opendance_snippet: str, openai_snippet: str) -> None:
    """Both Python snippets are valid Python whose calls name only parameters the SDKs have."""
    ours = _call(opendance_snippet, "generate_and_wait")
    allowed = set(inspect.signature(Client.generate_and_wait).parameters)
    allowed |= set(GenerateOptions.__annotations__)
    assert set(ours.keywords) <= allowed, set(ours.keywords) - allowed
    assert ours.keywords["image"] == "first.png" and ours.keywords["duration"] == 4
    theirs = _call(openai_snippet, "create")
    assert set(theirs.keywords) <= set(inspect.signature(Videos.create).parameters)
    assert theirs.keywords["size"] == "854x480" and theirs.keywords["seconds"] == "4"
    assert theirs.keywords["model"] == "sora-2"


class _Call:
    def __init__(self, node: ast.Call) -> None:
        self.keywords: dict[str, Any] = {}
        for keyword in node.keywords:
            assert keyword.arg is not None
            try:
                self.keywords[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                self.keywords[keyword.arg] = ast.unparse(keyword.value)


def _call(source: str, method: str) -> _Call:
    tree = ast.parse(source)  # a SyntaxError fails the test
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == method
        ):
            return _Call(node)
    raise AssertionError(f"no call of {method} in:\n{source}")


@cache
def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 36), (40, 80, 200)).save(out, format="PNG")
    return out.getvalue()
