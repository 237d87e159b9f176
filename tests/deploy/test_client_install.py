"""`pip install opendance` is the SDK and the client commands only: in a fresh virtual
environment, resolved for real from the package index, it brings none of the server's heavy
dependencies, and the client works there; the ``server`` extra brings them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.test_doc_install import shown_refusal

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {"av", "numpy", "pillow", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "boto3"}
SERVER_ONLY |= {"argon2-cffi", "jinja2", "prometheus-client", "uvicorn", "starlette"}


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _resolved(venv: Path, tmp_path: Path, requirement: str) -> set[str]:
    """The distributions pip would install for ``requirement`` into the empty ``venv``."""
    report = tmp_path / "report.json"
    _run(
        venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--dry-run",
        "--ignore-installed", "--report", report, "-c", ROOT / "constraints.txt", requirement,
    )  # fmt: skip
    return {
        item["metadata"]["name"].lower().replace("_", "-")
        for item in json.loads(report.read_text())["install"]
    }


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("client-venv") / "venv"
    _run(sys.executable, "-m", "venv", path)
    return path


def test_the_client_install_brings_none_of_the_server(venv: Path, tmp_path: Path) -> None:
    client = _resolved(venv, tmp_path, str(ROOT))
    assert {"httpx", "rich", "typer"} <= client
    assert not client & SERVER_ONLY, f"the client install pulls {sorted(client & SERVER_ONLY)}"
    server = _resolved(venv, tmp_path, f"{ROOT}[server]")
    assert server >= SERVER_ONLY  # the extra brings them: the check above can fail


def test_the_client_works_in_its_own_install(venv: Path, tmp_path: Path) -> None:
    python, opendance = venv / "bin" / "python", venv / "bin" / "opendance"
    # a regular install (not editable), run from outside the checkout
    _run(python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", ROOT)
    assert "--aspect-ratio" in _run(opendance, "generate", "--help", cwd=tmp_path)
    for command in ("status", "download", "list", "cancel"):
        assert "--base-url" in _run(opendance, command, "--help", cwd=tmp_path)
    assert _run(opendance, "--version", cwd=tmp_path).strip()
    imported = _run(
        python, "-c",
        "import sys\n"
        "from opendance.client import Client, AsyncClient\n"
        "from opendance.client.webhooks import verify\n"
        "import opendance.cli.main\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))",
        cwd=tmp_path,
    )  # fmt: skip
    loaded = set(imported.split())
    assert not loaded & {"av", "numpy", "PIL", "sqlalchemy", "asyncpg", "boto3", "alembic"}
    # the server's commands say what to install
    refused = subprocess.run(
        [opendance, "serve"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert refused.returncode == 1 and "pip install 'opendance[server]'" in refused.stderr
    # as docs/install.md shows it
    assert refused.stderr.strip() == shown_refusal()[1]
