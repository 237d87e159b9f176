"""docs/install.md shows what `opendance serve` prints in a client-only install: the test runs
the command with every module the client's dependencies do not bring made unimportable (the
closure of the base install's requirements, read from this environment's metadata) and
compares what it prints with the page. tests/deploy/test_client_install.py checks the same
line in a real client-only virtual environment."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

from tests.support.doc_blocks import block


def shown_refusal() -> tuple[str, str]:
    """(the command, the line it prints) as docs/install.md shows them."""
    command, printed = block("docs/install.md", "$ opendance serve").body.strip().splitlines()
    return command.removeprefix("$ "), printed


def client_distributions() -> set[str]:
    """The distributions `pip install opendance` brings: its base requirements, recursively
    (extras and requirements whose markers do not hold here left out)."""
    found: set[str] = set()
    todo = ["opendance"]
    while todo:
        name = todo.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = _normal(requirement.name)
            if key not in found:
                found.add(key)
                todo.append(requirement.name)
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def server_only_modules() -> set[str]:
    """Top-level modules of the installed distributions a client install does not bring."""
    client = client_distributions() | {"opendance"}
    return {
        module
        for module, distributions in metadata.packages_distributions().items()
        if not {_normal(d) for d in distributions} & client and not module.startswith("_")
    }


_RUN_WITHOUT = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))

class ClientOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, ClientOnly())
sys.argv = ["opendance", *sys.argv[2:]]
from opendance.cli.main import app
app()
"""


def test_the_client_only_refusal_is_the_one_shown() -> None:
    command, printed = shown_refusal()
    words = command.split()
    assert words[0] == "opendance"
    blocked = server_only_modules()
    assert {"sqlalchemy", "av", "starlette", "pydantic_settings"} <= blocked
    done = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT, ",".join(sorted(blocked)), *words[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == printed
