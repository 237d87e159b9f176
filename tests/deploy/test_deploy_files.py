"""The deployment files stay true to the program: every setting they set exists, every command
they run parses, and every variable they require is in the example environment file.

Docker itself is not run here; these checks catch what rots silently when the code moves on (a
renamed setting is ignored by pydantic-settings, a renamed option fails only at deploy time).
"""

from __future__ import annotations

import re
import shlex
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from opendance.cli.main import app
from opendance.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Variables read by the images' other programs, not by Opendance's settings.
FOREIGN_ENV = {"FORWARDED_ALLOW_IPS"}  # uvicorn's trusted proxies


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _opendance_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return {
        name: spec
        for name, spec in services.items()
        if str(spec.get("image", "")).startswith("opendance")
    }


def _parse(args: list[str]) -> None:
    """Parse an ``opendance ...`` command line the way the CLI would (options, their types, the
    subcommands), without running it. Typer brings its own click, hence the duck typing."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("opendance", list(args))
    rest = _remaining(ctx)
    while rest and hasattr(command, "resolve_command"):
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, list(rest), parent=ctx)
        rest = _remaining(ctx) if hasattr(command, "resolve_command") else []


def _remaining(ctx: Any) -> list[str]:
    """A group's context keeps the subcommand and its arguments apart from its own options."""
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def test_every_setting_in_compose_exists() -> None:
    fields = {f"OPENDANCE_{name.upper()}" for name in Settings.model_fields}
    for name, spec in _opendance_services().items():
        for key in spec.get("environment", {}):
            if key in FOREIGN_ENV:
                continue
            assert key in fields, f"service {name} sets {key}, which is no setting"


def test_every_command_in_compose_parses() -> None:
    services = _opendance_services()
    assert {"migrate", "api", "worker", "gpu-worker"} <= set(services)
    for spec in services.values():
        command = spec["command"]
        assert command[0] == "opendance"
        _parse(command[1:])


def test_every_command_in_the_guide_parses() -> None:
    guide = (DEPLOY / "README.md").read_text()
    lines = re.findall(r"(?:run --rm \w+ |`)(opendance [^`\n#]+)", guide)
    assert len(lines) >= 5
    for line in lines:
        args = [a for a in shlex.split(line.strip())[1:] if not a.startswith("$")]
        _parse(args)


def test_unknown_options_are_caught() -> None:
    with pytest.raises(Exception, match="No such option"):
        _parse(["worker", "--no-such-option"])
    with pytest.raises(Exception, match="No such command"):
        _parse(["no-such-command"])
    with pytest.raises(Exception, match="integer"):
        _parse(["serve", "--port", "eighty"])


def test_required_variables_are_in_the_example_env() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    optional = set(re.findall(r"\$\{(\w+):-", text))
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required, "the compose file requires its secrets"
    assert required <= example
    assert optional <= example


def test_built_images_and_proxy_match() -> None:
    services = _compose()["services"]
    for spec in services.values():
        build = spec.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    root = DEPLOY.parent
    for dockerfile in DEPLOY.glob("Dockerfile*"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (root / source).exists(), f"{dockerfile.name}: {source} missing"
    api_command = services["api"]["command"]
    port = api_command[api_command.index("--port") + 1]
    assert f"http://api:{port}" in (DEPLOY / "nginx.conf").read_text()


def test_the_proxy_sets_the_client_address_and_the_api_trusts_only_the_proxy_network() -> None:
    """A client's own X-Forwarded-For must not reach the API: nginx replaces it with the
    address it saw, and the API believes the header only from the compose network (where
    nginx is), never from anyone ("*"), or every client could choose its address."""
    lines = (DEPLOY / "nginx.conf").read_text().splitlines()
    nginx = "\n".join(line.split("#", 1)[0] for line in lines)  # the directives, not comments
    directives = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+([^;]+);", nginx)
    assert directives == ["$remote_addr"]
    assert "$proxy_add_x_forwarded_for" not in nginx
    compose = _compose()
    trusted = str(compose["services"]["api"]["environment"]["FORWARDED_ALLOW_IPS"])
    assert "*" not in trusted
    subnets = {
        ip_network(pool["subnet"]) for pool in compose["networks"]["default"]["ipam"]["config"]
    }
    assert {ip_network(entry.strip()) for entry in trusted.split(",")} == subnets
    assert all(net.is_private for net in subnets)
    # the nginx container (the only one publishing the API) is on that network
    assert "networks" not in compose["services"]["lb"]
