"""The SDK imports nothing of the server's side: with every module of the ``server`` extra made
unimportable, as in ``pip install opendance``, the whole of ``opendance.client`` still loads."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import opendance.client

# The top-level modules of the `server` extra's dependencies (pyproject.toml), less those the
# base install brings too (idna with httpx, pydantic with typer).
SERVER_MODULES = {
    *("aiosqlite", "alembic", "argon2", "asyncpg", "av", "boto3", "botocore", "jinja2"),
    *("multipart", "numpy", "orjson", "PIL", "prometheus_client", "pydantic_settings"),
    *("python_multipart", "sqlalchemy", "starlette", "uvicorn"),
}


def test_the_sdk_loads_without_the_server_extra() -> None:
    modules = [
        "opendance.client",
        *(f"opendance.client.{m.name}" for m in pkgutil.iter_modules(opendance.client.__path__)),
        "opendance.cli.main",
        "opendance.cli.client_commands",
        "opendance.cli.client_errors",
        "opendance.cli.task_table",
    ]
    code = "\n".join(
        [
            "import importlib, sys",
            *(f"sys.modules[{name!r}] = None" for name in sorted(SERVER_MODULES)),
            *(f"importlib.import_module({name!r})" for name in modules),
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
