"""`opendance list` and `opendance cancel` against a real server on loopback with no worker,
so tasks stay queued until cancelled."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from opendance.cli.main import app
from opendance.client import Client
from opendance.services.tasks import CANCELLED_MESSAGE
from tests.support.db import balance
from tests.support.live import LiveServer


def _run(live: LiveServer, key: str, *args: str, columns: int = 140) -> Any:
    env = {"OPENDANCE_BASE_URL": live.url, "OPENDANCE_API_KEY": key, "COLUMNS": str(columns)}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def _make(live: LiveServer, key: str, *prompts: str) -> list[str]:
    with Client(live.url, key) as client:
        return [client.generate(p, resolution="480p", duration=4).task_id for p in prompts]


def test_list_shows_a_table_of_tasks_newest_first(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("lister", 100)
    old, new = _make(api_only_server, key, "an old lighthouse", "a new harbour")
    with Client(api_only_server.url, key) as client:
        client.generate("with sound", resolution="720p", duration=8, aspect_ratio="16:9")
    result = _run(api_only_server, key, "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "TASK",
        "STATUS",
        "CREATED",
        "(UTC)",
        "REQUEST",
        "CREDITS",
        "PROMPT",
    ]
    assert "720p 16:9 8s" in lines[1] and "28" in lines[1] and "with sound" in lines[1]
    assert lines[2].startswith(new) and "queued" in lines[2] and "a new harbour" in lines[2]
    assert lines[3].startswith(old) and "480p 1:1 4s" in lines[3] and " 8 " in lines[3]
    assert len(lines) == 4 and result.stderr == ""


def test_on_a_narrow_terminal_only_the_prompt_is_cut(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("narrow", 100)
    (task_id,) = _make(api_only_server, key, "A cinematic shot of mountains at sunrise " * 3)
    lines = _run(api_only_server, key, "list", columns=60).stdout.splitlines()
    assert lines[0].split()[:6] == ["TASK", "STATUS", "CREATED", "(UTC)", "REQUEST", "CREDITS"]
    assert lines[1].split()[:2] == [task_id, "queued"] and "A cinematic" in lines[1]
    assert lines[1].rstrip().endswith("…")


def test_list_limits_filters_and_says_there_is_more(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("many", 100)
    made = _make(api_only_server, key, "one", "two", "three")
    two = _run(api_only_server, key, "list", "--limit", "2")
    assert two.exit_code == 0, two.stderr
    assert [line.split()[0] for line in two.stdout.splitlines()[1:]] == made[:0:-1]
    assert "the newest 2 are shown" in two.stderr and "opendance list --limit 4" in two.stderr

    assert _run(api_only_server, key, "cancel", made[1]).exit_code == 0
    failed = json.loads(_run(api_only_server, key, "list", "--status", "failed", "--json").stdout)
    assert [t["task_id"] for t in failed["tasks"]] == [made[1]] and failed["has_more"] is False
    assert failed["tasks"][0]["error_message"] == CANCELLED_MESSAGE
    everything = json.loads(_run(api_only_server, key, "list", "--json", "--limit", "2").stdout)
    assert [t["task_id"] for t in everything["tasks"]] == made[:0:-1]
    assert everything["has_more"] is True
    none = _run(api_only_server, key, "list", "--status", "SUCCESS")
    assert none.exit_code == 0 and none.stdout == "No tasks with status SUCCESS.\n"
    bad = _run(api_only_server, key, "list", "--status", "done")
    assert bad.exit_code == 2 and "done" in bad.stderr


def test_cancel_refunds_and_a_second_cancel_says_why_not(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("canceller", 100)
    (task_id,) = _make(api_only_server, key, "never mind")
    assert api_only_server.call(lambda c: balance(c, "canceller")) == 92
    done = _run(api_only_server, key, "cancel", task_id)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"{task_id} cancelled; its credits were refunded\n"
    assert api_only_server.call(lambda c: balance(c, "canceller")) == 100

    again = _run(api_only_server, key, "cancel", task_id, "--json")
    assert again.exit_code == 1
    assert json.loads(again.stdout)["error"]["code"] == "TASK_NOT_CANCELLABLE"
    assert "only a queued or running task can be cancelled" in again.stderr
    unknown = _run(api_only_server, key, "cancel", "task_nothere")
    assert unknown.exit_code == 1 and "TASK_NOT_FOUND" in unknown.stderr

    (other,) = _make(api_only_server, key, "as json")
    shown = json.loads(_run(api_only_server, key, "cancel", other, "--json").stdout)
    assert shown["task_id"] == other and shown["status"] == "FAILED"
    assert shown["consumed_credits"] == 0
