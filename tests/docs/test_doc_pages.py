"""What the client-side pages tell a user to run works, read from the pages themselves and run
against one real `opendance serve` on a free loopback port: the curl walk-through of
docs/getting-started.md, the SDK example, the webhook `verify` example and the command-line
block of docs/sdk.md, and the official-SDK examples of docs/dialects/openai.md and ark.md
(address and key substituted)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from opendance.client.webhooks import WebhookVerificationError
from opendance.domain import webhook_signing
from tests.support.doc_blocks import SHOWN_URL, block, shell_lines
from tests.support.doc_runs import curl_walk_through, is_mp4, run_python
from tests.support.live import free_port
from tests.support.processes import ServeProcess, cli_json
from tests.support.receivers import Receiver

pytestmark = pytest.mark.slow

SHOWN_KEY = "od_..."
# the openai SDK marks every Videos method deprecated
SORA_DEPRECATION = "ignore:The Sora API is scheduled:DeprecationWarning"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    """`opendance serve` as `make serve` runs it (one worker, the demo account), on a free
    port, letting callbacks reach loopback (the webhook receiver of the CLI test)."""
    data_dir = tmp_path_factory.mktemp("doc-pages") / "data"
    env = {"OPENDANCE_ALLOW_PRIVATE_URLS": "true"}
    process = ServeProcess(data_dir, free_port(), env=env).start()
    try:
        yield process, process.demo_key()
    finally:
        process.stop()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example runs in an empty directory, with the first frame it names."""
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 48), (200, 120, 40)).save(tmp_path / "first-frame.png")
    return tmp_path


def _python(page: str, fingerprint: str, url: str) -> str:
    found = block(page, fingerprint)
    assert found.lang == "python"
    assert SHOWN_URL in found.body
    return found.body.replace(SHOWN_URL, url)


# --- docs/getting-started.md --------------------------------------------------------------


def test_the_getting_started_curl_walk_through(server: tuple[ServeProcess, str]) -> None:
    process, key = server
    script = block("docs/getting-started.md", "curl -X POST").body
    assert "export KEY=od_..." in script
    data = curl_walk_through(script, process.url, key)
    assert data["request"]["resolution"] == "720p"


# --- docs/sdk.md: the SDK -----------------------------------------------------------------


def test_the_sdk_example(server: tuple[ServeProcess, str], in_tmp: Path) -> None:
    process, key = server
    source = _python("docs/sdk.md", "generate_and_wait", process.url)
    assert f'api_key="{SHOWN_KEY}"' in source
    namespace = run_python(source.replace(f'"{SHOWN_KEY}"', repr(key)), "docs/sdk.md")
    task = namespace["task"]
    assert task.succeeded, task.error_message
    assert is_mp4(in_tmp / "sunrise.mp4")
    # the first frame went with it, inline
    assert task.request["image_urls"][0].startswith("data:image/png;base64,")
    assert (task.request["resolution"], task.request["duration"]) == ("480p", "4")


def _verify_example() -> str:
    source = block("docs/sdk.md", "from opendance.client.webhooks import verify").body
    # the example's `...` stands for answering 400; here the refusal goes on to the test
    placeholder = re.search(r"^    \.\.\. .*# answer 400.*$", source, re.M)
    assert placeholder, source
    return source.replace(placeholder.group(), "    raise")


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return webhook_signing.signed_headers([secret], "msg_docs", int(time.time()), body)


def test_the_webhook_verify_example() -> None:
    secret = webhook_signing.new_secret()
    body = json.dumps({"type": "task.succeeded", "data": {"task_id": "task_1"}}).encode()
    source = _verify_example().replace('"whsec_..."', repr(secret))
    namespace = run_python(
        source, "docs/sdk.md", raw_body=body, request=_Request(_signed(secret, body))
    )
    assert namespace["task"] == {"task_id": "task_1"}

    tampered = body.replace(b"task_1", b"task_2")
    with pytest.raises(WebhookVerificationError):
        run_python(
            source, "docs/sdk.md", raw_body=tampered, request=_Request(_signed(secret, body))
        )
    other_secret = webhook_signing.new_secret()
    with pytest.raises(WebhookVerificationError):
        run_python(
            source, "docs/sdk.md", raw_body=body, request=_Request(_signed(other_secret, body))
        )


# --- docs/sdk.md: the command line --------------------------------------------------------

OPTION_VALUES = {
    "--image": "first-frame.png",
    "--seed": "7",
    "--status": "SUCCESS",
    "--limit": "2",
    "-o": "full.mp4",
    "--timeout": "120",
}
"""A value for each optional ``[--option PLACEHOLDER]`` of the block (``--callback-url``: the
test's own receiver)."""


def _stripped(line: str) -> str:
    """The command with its optional ``[...]`` parts left out."""
    return re.sub(r"\s*\[[^\]]*\]", "", line)


def _with_options(line: str, values: dict[str, str]) -> str:
    """The command with every optional part given (placeholders from ``values``)."""

    def given(match: re.Match[str]) -> str:
        option, _, placeholder = match.group(1).partition(" ")
        if not placeholder:
            return option
        value = values[option]
        if "|" in placeholder:
            assert value in placeholder.split("|"), (value, placeholder)
        return f"{option} {shlex.quote(value)}"

    return re.sub(r"\[([^\]]+)\]", given, line)


STATUSES = {"IN_PROGRESS", "SUCCESS", "FAILED"}


class _Cli:
    """The block's commands as subprocesses, with the environment it exports."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    def run(self, line: str, **placeholders: str) -> subprocess.CompletedProcess[str]:
        for name, value in placeholders.items():
            line = re.sub(rf"\b{name}\b", value, line)
        words = shlex.split(line)
        assert words[0] == "opendance", line
        leftover = [w for w in words if re.fullmatch(r"[A-Z_]+", w) and w not in STATUSES]
        assert not leftover, f"unsubstituted {leftover} in {line!r}"
        return subprocess.run(
            [sys.executable, "-m", "opendance", *words[1:]],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, line: str, **placeholders: str) -> str:
        done = self.run(line, **placeholders)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout


def _cli_block() -> dict[str, str]:
    """The block's lines by what they run: export, generate, generate-json, status, ..."""
    lines = shell_lines(block("docs/sdk.md", "export OPENDANCE_API_KEY=").body)
    named: dict[str, str] = {}
    for line in lines:
        words = line.split()
        name = words[0] if words[0] == "export" else words[1]
        if name == "generate" and "--json" in words:
            name = "generate-json"
        assert name not in named, f"two lines of {name}: the test does not know the new one"
        named[name] = line
    assert set(named) == {
        "export", "generate", "generate-json", "status", "download", "list", "cancel",
    }  # fmt: skip
    return named


def _cli(process: ServeProcess, key: str, export: str, cwd: Path) -> _Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    name, _, value = export.removeprefix("export ").partition("=")
    assert (name, value) == ("OPENDANCE_API_KEY", SHOWN_KEY)
    env |= {name: key, "OPENDANCE_BASE_URL": process.url, "COLUMNS": "200"}
    return _Cli(cwd, env)


def test_the_command_line_block(server: tuple[ServeProcess, str], in_tmp: Path) -> None:
    process, key = server
    lines = _cli_block()
    cli = _cli(process, key, lines["export"], in_tmp)

    # generate --wait -o out.mp4, without and with every option
    saved = cli.ok(_stripped(lines["generate"]))
    assert "saved out.mp4" in saved and is_mp4(in_tmp / "out.mp4")
    receiver = Receiver().start()
    try:
        full = _with_options(lines["generate"], {**OPTION_VALUES, "--callback-url": receiver.url})
        (in_tmp / "out.mp4").unlink()
        cli.ok(full)
        with av.open(str(in_tmp / "out.mp4")) as container:
            assert container.streams.video and container.streams.audio  # --audio
        newest = json.loads(cli.ok("opendance list --limit 1 --json"))["tasks"][0]
        request = newest["request"]
        assert request["seed"] == 7 and request["generate_audio"] and request["fixed_lens"]
        assert request["image_urls"][0].startswith("data:image/png;base64,")
        _the_callback_verifies(process, receiver, newest["task_id"])
    finally:
        receiver.stop()

    # generate --json, then status, download, list on that task
    submitted = json.loads(cli.ok(lines["generate-json"]))
    assert set(submitted) == {"task_id", "status"} and submitted["status"] == "IN_PROGRESS"
    task_id = submitted["task_id"]
    assert task_id in cli.ok(_stripped(lines["status"]), TASK_ID=task_id)
    waited = json.loads(cli.ok(_with_options(lines["status"], OPTION_VALUES), TASK_ID=task_id))
    assert waited["status"] == "SUCCESS" and is_mp4(in_tmp / "full.mp4")

    cli.ok(_stripped(lines["download"]), TASK_ID_OR_URL=task_id)
    assert is_mp4(in_tmp / f"{task_id}.mp4")  # the default name
    (in_tmp / "full.mp4").unlink()
    cli.ok(_with_options(lines["download"], OPTION_VALUES), TASK_ID_OR_URL=waited["response"][0])
    assert is_mp4(in_tmp / "full.mp4")

    assert task_id in cli.ok(_stripped(lines["list"]))
    listed = json.loads(cli.ok(_with_options(lines["list"], OPTION_VALUES)))
    assert 1 <= len(listed["tasks"]) <= 2
    assert {task["status"] for task in listed["tasks"]} == {"SUCCESS"}

    _cancel(cli, lines["cancel"], process.url, key)


def _the_callback_verifies(process: ServeProcess, receiver: Receiver, task_id: str) -> None:
    """The delivery the callback brought verifies with the page's `verify` example and the
    account's secret."""
    deadline = time.monotonic() + 60
    while not receiver.received:
        assert time.monotonic() < deadline, "no webhook delivery arrived"
        time.sleep(0.2)
    headers, body = receiver.received[0]
    secret = cli_json(process.data_dir, "webhooks", "secret", "demo")["secret"]
    source = _verify_example().replace('"whsec_..."', repr(secret))
    namespace = run_python(source, "docs/sdk.md", raw_body=body, request=_Request(headers))
    assert namespace["task"]["task_id"] == task_id


def _cancel(cli: _Cli, line: str, url: str, key: str) -> None:
    """`cancel TASK_ID` on a queued task: queued behind a long one the worker is busy with,
    so it is certainly not finished when the command runs."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        ids = []
        for _ in range(2):
            created = http.post(
                "/v1/generate",
                json={"prompt": "a long one", "resolution": "720p", "duration": 12},
            )
            assert created.status_code == 200, created.text
            ids.append(created.json()["data"]["task_id"])
        busy, queued = ids
        said = cli.ok(_stripped(line), TASK_ID=queued)
        assert said.startswith(f"{queued} cancelled; its credits were refunded")
        cancelled = json.loads(cli.ok(_with_options(line, {}), TASK_ID=busy))
        assert cancelled["status"] == "FAILED" and cancelled["task_id"] == busy
        refused = cli.run(_stripped(line), TASK_ID=queued)  # already cancelled
        assert refused.returncode == 1


# --- docs/install.md: the client alone -----------------------------------------------------


def test_the_client_alone_block(server: tuple[ServeProcess, str], in_tmp: Path) -> None:
    """Its commands after the install (tests/deploy/test_client_install.py installs it), with
    the exported address and key set to this server's."""
    process, key = server
    install, export, generate, listing = shell_lines(
        block("docs/install.md", "pip install opendance\n").body
    )
    assert install == "pip install opendance"
    exported = dict(word.partition("=")[::2] for word in shlex.split(export)[1:])
    assert exported == {"OPENDANCE_BASE_URL": "https://video.example.com",
                        "OPENDANCE_API_KEY": SHOWN_KEY}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDANCE_")}
    env |= {"OPENDANCE_BASE_URL": process.url, "OPENDANCE_API_KEY": key, "COLUMNS": "200"}
    cli = _Cli(in_tmp, env)
    assert "saved sunrise.mp4" in cli.ok(generate)
    assert is_mp4(in_tmp / "sunrise.mp4")
    newest = json.loads(cli.ok("opendance list --limit 1 --json"))["tasks"][0]
    assert newest["request"]["prompt"] == "A cinematic shot of mountains at sunrise"
    assert newest["task_id"] in cli.ok(listing)


# --- docs/dialects ------------------------------------------------------------------------


@pytest.mark.filterwarnings(SORA_DEPRECATION)
def test_the_openai_dialect_example(server: tuple[ServeProcess, str], in_tmp: Path) -> None:
    process, key = server
    source = _python("docs/dialects/openai.md", "from openai import OpenAI", process.url)
    run_python(source, "docs/dialects/openai.md", OPENDANCE_KEY=key)
    assert is_mp4(in_tmp / "fox.mp4")


def test_the_ark_dialect_example(
    server: tuple[ServeProcess, str], capsys: pytest.CaptureFixture[str]
) -> None:
    process, key = server
    source = _python("docs/dialects/ark.md", "from volcenginesdkarkruntime import", process.url)
    namespace = run_python(source, "docs/dialects/ark.md", KEY=key)
    assert capsys.readouterr().out.strip() in {"queued", "running", "succeeded"}
    with httpx.Client(base_url=process.url, headers={"Authorization": f"Bearer {key}"}) as http:
        task = http.get(f"/api/v3/contents/generations/tasks/{namespace['task'].id}").json()
    # the prompt's flags were read: 480p, 4 seconds
    assert (task["resolution"], task["duration"]) == ("480p", 4), task
