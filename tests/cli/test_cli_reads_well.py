"""The ``opendance`` command as a reader meets it: grouped help, --version, the fixed choices
listed, completed and checked, and the client commands without the server's dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from opendance import __version__
from opendance.cli.main import app
from opendance.cli.models import KINDS
from opendance.cli.panels import ADMIN, CLIENT, SERVER
from opendance.domain.presets import ASPECT_RATIOS, DURATIONS, RESOLUTIONS
from opendance.engines.registry import ENGINES

runner = CliRunner()
CLIENT_COMMANDS = ("generate", "status", "download", "list", "cancel")
SERVER_COMMANDS = ("serve", "worker", "migrate", "models", "storage")
ADMIN_COMMANDS = ("accounts", "keys", "credits", "webhooks")


def _commands() -> dict[str, Any]:
    group: Any = typer.main.get_command(app)
    commands: dict[str, Any] = group.commands
    return commands


def _param(command: Any, name: str) -> Any:
    return next(p for p in command.params if p.name == name)


def _complete(words: str) -> list[str]:
    """What bash completion offers for the last word of ``words``, from a real process."""
    env = {
        **os.environ,
        "_OPENDANCE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run(
        [sys.executable, "-m", "opendance"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_version_flag_and_command() -> None:
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.stdout.strip() == __version__


def test_help_groups_client_server_and_admin_commands() -> None:
    commands = _commands()
    panels = {name: commands[name].rich_help_panel for name in commands}
    assert {name for name, panel in panels.items() if panel == CLIENT} >= set(CLIENT_COMMANDS)
    assert {name for name, panel in panels.items() if panel == SERVER} == set(SERVER_COMMANDS)
    assert {name for name, panel in panels.items() if panel == ADMIN} == set(ADMIN_COMMANDS)
    assert all(panels.values()), "every command is in a group"
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "120"}).stdout
    # the groups in this order: what most people run first
    assert shown.index(CLIENT) < shown.index(SERVER) < shown.index(ADMIN)


def test_generate_lists_its_choices_from_the_presets() -> None:
    generate = _commands()["generate"]
    for name, values in (
        ("aspect_ratio", ASPECT_RATIOS),
        ("resolution", RESOLUTIONS),
        ("duration", DURATIONS),
    ):
        assert _param(generate, name).metavar == "[" + "|".join(map(str, values)) + "]"
    shown = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"}).stdout
    assert "[480p|720p]" in shown and "[4|8|12]" in shown


def test_generate_refuses_what_the_server_would_refuse() -> None:
    wrong = runner.invoke(app, ["generate", "x", "--aspect-ratio", "16:10"])
    assert wrong.exit_code == 2 and "'16:10' is not one of 1:1, 16:9" in wrong.output
    wrong = runner.invoke(app, ["generate", "x", "--resolution", "1080p"])
    assert wrong.exit_code == 2 and "480p, 720p" in wrong.output


def test_engine_and_model_kind_choices() -> None:
    commands: Any = _commands()
    serve = commands["serve"]
    assert _param(serve, "engine").metavar == "[" + "|".join(ENGINES) + "]"
    make_tiny = commands["models"].commands["make-tiny"]
    assert all(kind in _param(make_tiny, "kind").help for kind in KINDS)
    wrong = runner.invoke(app, ["serve", "--engine", "sora"])
    assert wrong.exit_code == 2 and "'sora' is not one of" in wrong.output


def test_shell_completion_offers_the_choices() -> None:
    assert _complete("opendance generate x --aspect-ratio 1") == ["1:1", "16:9"]
    assert _complete("opendance generate x --resolution ") == list(RESOLUTIONS)
    assert _complete("opendance generate x --duration ") == [str(d) for d in DURATIONS]
    assert _complete("opendance models make-tiny wan") == ["wan", "wan-i2v"]
    assert set(_complete("opendance serve --engine ")) == set(ENGINES)


@pytest.mark.parametrize("missing", ["pydantic_settings", "sqlalchemy"])
def test_without_the_server_extra_the_client_commands_work_and_the_rest_say_what_to_install(
    missing: str,
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # the server's dependency is made unimportable, as in a client-only install
        code = (
            f"import sys; sys.modules[{missing!r}] = None\n"
            "from opendance.cli.main import app\n"
            "app(prog_name='opendance')"
        )
        return subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
        )

    listed = run("--help")
    assert listed.returncode == 0 and "generate" in listed.stdout and "serve" in listed.stdout
    helped = run("generate", "--help")
    assert helped.returncode == 0 and "--aspect-ratio" in helped.stdout
    refused = run("serve", "--port", "8000")
    assert refused.returncode == 1
    assert "pip install 'opendance[server]'" in refused.stderr and missing in refused.stderr
    assert run("accounts", "list").returncode == 1
