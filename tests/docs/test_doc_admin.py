"""The admin command line of docs/operating/index.md and docs/dashboard.md: every command and
option the synopsis names is one the `opendance` app has (and every server or admin command
the app has is in the synopsis), and the admin sequence, run for real as subprocesses on a
temporary SQLite database, does what the pages say (a revoked key gets 401 at once, granted
credits show in `credits show`, a password set lets the account sign in, ...)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from opendance.cli.main import app
from tests.support.doc_blocks import SHOWN_URL, block, shell_lines
from tests.support.live import free_port
from tests.support.processes import ServeProcess, opendance_env
from tests.support.web import sign_in

SYNOPSIS_FINGERPRINT = "opendance accounts set-password NAME"
DASHBOARD_FINGERPRINT = "opendance accounts create alice"
NOT_RUN_HERE = {
    ("webhooks", "redeliver"): "needs a delivery: tests/worker/test_webhooks.py runs it",
    ("models", "make-tiny"): "tests/docs/test_doc_engines.py runs it",
    ("models", "check"): "loads a model: tests/models/test_model_loading.py runs it",
    ("serve",): "started below, and by every server test",
    ("worker",): "tests/docs/test_doc_postgresql.py runs it",
}
"""Synopsis commands the sequence below does not run, and where they run."""


def _synopsis() -> list[str]:
    body = block("docs/operating/index.md", SYNOPSIS_FINGERPRINT).body
    body = re.sub(r"\n\s+(?=\[)", " ", body)  # a line's options wrapped onto the next
    return shell_lines(body)


def _dashboard_lines() -> list[str]:
    return shell_lines(block("docs/dashboard.md", DASHBOARD_FINGERPRINT).body)


ROOT_COMMAND: Any = typer.main.get_command(app)
"""Typer's click command tree (typer brings its own click: read it by duck typing)."""


def _command(words: list[str]) -> tuple[tuple[str, ...], Any, list[str]]:
    """(the command's path, the click command, the words after it) of ``opendance ...``."""
    assert words[0] == "opendance", words
    command = ROOT_COMMAND
    path: list[str] = []
    rest = words[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        assert rest[0] in command.commands, f"no command {' '.join([*path, rest[0]])}"
        command = command.commands[rest[0]]
        path.append(rest[0])
        rest = rest[1:]
    return tuple(path), command, rest


def _option(command: Any, name: str) -> Any:
    for param in command.params:
        if param.param_type_name == "option" and name in (*param.opts, *param.secondary_opts):
            return param
    raise AssertionError(f"{command.name} has no option {name}")


def _check_line(line: str) -> tuple[str, ...]:
    """Every option of ``line`` exists on its command (an option that takes a value is
    followed by its placeholder), and its positional words match the command's arguments."""
    path, command, rest = _command(shlex.split(line.replace("[", " ").replace("]", " ")))
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    positional = []
    words = iter(rest)
    for word in words:
        if word == "…":
            continue
        if word.startswith("-") and not re.fullmatch(r"-\d+", word):
            option = _option(command, word)
            if not option.is_flag and not option.count:
                next(words)
        else:
            positional.append(word)
    assert len(positional) == len(arguments), f"{line!r}: {positional} for {arguments}"
    for word, argument in zip(positional, arguments, strict=True):
        if word.startswith("{"):  # the choices, as the argument's help lists them
            offered = re.search(r"One of: (.*)\.$", argument.help)
            assert offered, f"{line!r}: {argument.name} offers no choices"
            assert set(word.strip("{}").split("|")) == set(offered.group(1).split(", ")), line
    return path


def test_every_command_and_option_of_the_synopsis_exists() -> None:
    named = {_check_line(line) for line in _synopsis()}
    for line in _dashboard_lines():
        _check_line(line)
    # and the synopsis names every server and admin command the app has
    client_side = {"generate", "status", "download", "list", "cancel", "version"}
    commands: set[tuple[str, ...]] = set()
    for name, command in ROOT_COMMAND.commands.items():
        if name in client_side:
            continue
        if hasattr(command, "commands"):
            commands |= {(name, sub) for sub in command.commands}
        else:
            commands.add((name,))
    assert commands - named == set(), "commands missing from docs/operating/index.md"
    assert set(NOT_RUN_HERE) <= named


# --- the sequence, for real ---------------------------------------------------------------


class _Admin:
    """`opendance` subprocesses on one data directory (a fresh SQLite database)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ran: set[tuple[str, ...]] = set()

    def run(self, line: str, *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        words = shlex.split(line)
        path = _check_line(line)  # what runs is what the synopsis allows
        self.ran.add(path)
        return subprocess.run(
            [sys.executable, "-m", "opendance", *words[1:]],
            env=opendance_env(self.data_dir),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, line: str, *, stdin: str | None = None) -> str:
        done = self.run(line, stdin=stdin)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, line: str) -> Any:
        return json.loads(self.ok(line + " --json"))


@pytest.fixture
def admin(tmp_path: Path) -> _Admin:
    return _Admin(tmp_path / "data")


PASSWORD = "a long enough password"


@pytest.mark.slow
def test_the_admin_sequence(admin: _Admin, tmp_path: Path) -> None:
    assert re.fullmatch(r"\d{4}", admin.json("opendance migrate")["revision"])
    assert admin.json("opendance migrate")["revision"]  # again: already current

    # docs/dashboard.md, as written (the password from stdin instead of the terminal)
    create, set_password, invite = _dashboard_lines()
    created = admin.ok(create)
    first_link = re.search(rf"{SHOWN_URL}/dashboard/invite/\S+", created)
    assert first_link and "credits" in created
    assert set_password == "opendance accounts set-password alice"
    admin.ok(set_password + " --password-stdin", stdin=PASSWORD + "\n")
    second_link = re.search(rf"{SHOWN_URL}/dashboard/invite/\S+", admin.ok(invite))
    assert second_link and second_link.group() != first_link.group()

    # docs/operating/index.md
    admin.ok("opendance accounts create bob --credits 10")
    listed = {a["name"]: a["balance"] for a in admin.json("opendance accounts list")}
    assert listed == {"alice": 500, "bob": 10}
    admin.ok("opendance accounts set-admin alice")
    admin.ok("opendance accounts set-email bob bob@example.com")

    key = admin.json("opendance keys create bob --name docs")
    assert key["key"].startswith("od_")
    (shown,) = admin.json("opendance keys list bob")
    assert (shown["id"], shown["name"], shown["revoked_at"]) == (key["id"], "docs", None)
    assert key["key"] not in json.dumps(shown)  # only its hash is stored

    admin.ok('opendance credits grant bob 250 --note "docs grant"')
    credits = admin.json("opendance credits show bob")
    assert credits["balance"] == 260
    assert (credits["ledger"][0]["amount"], credits["ledger"][0]["note"]) == (250, "docs grant")
    refused = admin.run("opendance credits grant bob -1000")  # never below 0
    assert refused.returncode == 1 and "balance" in refused.stderr
    admin.ok("opendance credits grant bob -60")
    assert admin.json("opendance credits show bob")["balance"] == 200

    secret = admin.json("opendance webhooks secret bob")["secret"]
    assert secret.startswith("whsec_")
    rotated = admin.json("opendance webhooks secret bob --rotate")
    assert rotated["secret"] != secret and rotated["previous_secret"] == secret
    assert admin.json("opendance webhooks deliveries --account bob") == []
    assert admin.json("opendance webhooks deliveries --task task_none") == []

    orphan = admin.data_dir / "objects" / "videos" / "task_AAAAAAAAAAAAAAAAAAAAAA-1.mp4"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"not a task's")
    os.utime(orphan, (0, 0))
    report = admin.json("opendance storage sweep --dry-run")
    assert report["dry_run"] and report["deleted"] == ["videos/task_AAAAAAAAAAAAAAAAAAAAAA-1.mp4"]
    assert orphan.exists()
    admin.ok("opendance storage sweep --min-age 1h")
    assert not orphan.exists()

    # against a server on the same database: keys, passwords, admins, e-mails take effect
    server = ServeProcess(admin.data_dir, free_port(), args=("--no-demo", "--workers", "0"))
    server.start()
    try:
        _outcomes_on_the_server(admin, server, key)
    finally:
        server.stop()
    ran = admin.ran | set(NOT_RUN_HERE)
    assert ran == {_check_line(line) for line in _synopsis()}, "a synopsis command never ran"


def _outcomes_on_the_server(admin: _Admin, server: ServeProcess, key: dict[str, str]) -> None:
    api = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(server.url + "/v1/tasks", headers=api).status_code == 200
    admin.ok(f"opendance keys revoke {key['id']}")
    revoked = httpx.get(server.url + "/v1/tasks", headers=api)
    assert revoked.status_code == 401 and revoked.json()["error"] == "INVALID_API_KEY"
    assert admin.json("opendance keys list bob")[0]["revoked_at"] is not None

    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert sign_in(browser, "alice@example.com", PASSWORD).status_code == 303
        assert browser.get("/dashboard/admin").status_code == 200  # set-admin
        admin.ok("opendance accounts set-admin alice --revoke")
        assert browser.get("/dashboard/admin").status_code == 404
    admin.ok('opendance accounts set-email alice ""')  # "" removes it
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert sign_in(browser, "alice@example.com", PASSWORD).status_code != 303
        assert sign_in(browser, "alice", PASSWORD).status_code == 303
