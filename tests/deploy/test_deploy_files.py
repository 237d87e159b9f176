"""The deployment files stay true to the program: every setting they set exists, every command
they run parses, and every variable they require is in the example environment file.

Docker itself is not run here; these checks catch what rots silently when the code moves on (a
renamed setting is ignored by pydantic-settings, a renamed option fails only at deploy time).
"""

from __future__ import annotations

import json
import os
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


def _dockerfile(name: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", (DEPLOY / name).read_text())
    instructions = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def image_default_command(name: str = "Dockerfile") -> list[str]:
    """The command the image runs when `docker run IMAGE` names none (its CMD, exec form)."""
    commands = [json.loads(rest) for word, rest in _dockerfile(name) if word == "CMD"]
    assert len(commands) == 1, "one CMD, in exec form"
    assert not [word for word, _ in _dockerfile(name) if word == "ENTRYPOINT"]
    command: list[str] = commands[-1]
    return command


def image_env(name: str = "Dockerfile") -> dict[str, str]:
    """The variables the image sets (its ENV instructions)."""
    env: dict[str, str] = {}
    for word, rest in _dockerfile(name):
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))
    return env


def test_the_image_alone_serves_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run -p 8000:8000 IMAGE`: the API on every interface of the container, a worker
    beside it, SQLite and local files in the data directory, the demo account printed."""
    command = image_default_command()
    assert command[:2] == ["opendance", "serve"]
    _parse(command[1:])
    assert "--no-demo" not in command and "--workers" not in command  # one worker by default
    for key in [k for k in os.environ if k.startswith("OPENDANCE_")]:
        monkeypatch.delenv(key)  # the image's settings alone
    env = image_env()
    settings = Settings(
        **{
            k.removeprefix("OPENDANCE_").lower(): v
            for k, v in env.items()
            if k.startswith("OPENDANCE_")
        }
    )
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside the container, by design
    assert settings.database_url is None and settings.storage_url is None
    assert str(settings.data_dir) == "/var/lib/opendance"
    exposed = [rest for word, rest in _dockerfile("Dockerfile") if word == "EXPOSE"]
    assert exposed == [str(settings.port)]
    assert settings.resolved_public_url == f"http://localhost:{settings.port}"
    # the data directory is the unprivileged user's
    run = " ".join(rest for word, rest in _dockerfile("Dockerfile") if word == "RUN")
    assert "chown opendance /var/lib/opendance" in run
    assert ("USER", "opendance") in _dockerfile("Dockerfile")


def test_compose_runs_the_image_with_the_production_flags() -> None:
    services = _opendance_services()
    api = services["api"]["command"]
    assert api[:2] == ["opendance", "serve"]
    assert api[api.index("--workers") + 1] == "0" and "--no-demo" in api
    env = services["api"]["environment"]
    assert env["OPENDANCE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["OPENDANCE_STORAGE_URL"].startswith("s3://")
    assert env["OPENDANCE_PUBLIC_URL"]  # compose's own, over the image's localhost default
    for name in ("migrate", "worker", "gpu-worker"):
        assert services[name]["command"][1] != "serve"


def _project_version() -> str:
    import tomllib

    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    version: str = pyproject["project"]["version"]
    return version


def test_every_compose_image_is_pinned() -> None:
    """No `latest` and no bare major: a redeploy runs what was tested. The images built here
    carry the project's version."""
    for name, spec in _compose()["services"].items():
        image = str(spec["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if "@sha256:" not in image:
            assert re.search(r"\d+\.\d+|RELEASE\.\d{4}-", tag), f"{name}: {image} is not pinned"
        if repository.startswith("opendance"):
            assert tag == _project_version(), f"{name}: {image}"


def _pip_installs() -> dict[str, list[str]]:
    root = DEPLOY.parent
    found: dict[str, list[str]] = {}
    for path in [root / "Makefile", root / ".ci" / "run", *DEPLOY.glob("Dockerfile*")]:
        lines = re.sub(r"\\\n\s*", " ", path.read_text()).splitlines()
        found[path.name] = [
            line
            for line in lines
            if re.search(r"pip install\b", line) and "--upgrade pip" not in line
        ]
    return found


def test_every_install_of_the_project_is_held_to_the_lock() -> None:
    installs = _pip_installs()
    assert set(installs) >= {"Makefile", "run", "Dockerfile", "Dockerfile.gpu"}
    for name, lines in installs.items():
        for line in lines:
            if re.search(r"pip install[^\n]*\s'?\.", line):  # the project itself
                assert "-c constraints.txt" in line, f"{name}: {line.strip()}"
    for name in ("Dockerfile", "Dockerfile.gpu"):
        copied = [rest for word, rest in _dockerfile(name) if word == "COPY"]
        assert any("constraints.txt" in rest for rest in copied), name


def test_the_lock_pins_every_dependency() -> None:
    import tomllib

    root = DEPLOY.parent
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [*pyproject["dependencies"]]
    for extra in pyproject["optional-dependencies"].values():
        wanted += extra

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line} is not pinned with =="
            pinned[canonical(name)] = version
    for requirement in wanted:
        name = canonical(re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0])
        if name in {"opendance", "torch"}:  # the project; torch is the machine's build
            continue
        assert name in pinned, f"{requirement} is not in constraints.txt"
