"""The wheel carries the vendored Swagger UI with every licence it comes under: Swagger UI's
own (LICENSE, NOTICE) and the notices of the third-party code inside its bundle
(swagger-ui-bundle.js.LICENSE.txt, which the bundle's first line names)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SWAGGER_UI = "opendance/web/static/swagger-ui/"
LICENCES = ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip wheel` builds from a copy of the project (so no build/ or egg-info lands
    in the checkout); the installed setuptools builds it, nothing is fetched."""
    tree = tmp_path_factory.mktemp("wheel-src")
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    out = tree / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip_wheel, "--quiet", "--wheel-dir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("opendance-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_ships_swagger_ui_with_its_licences(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", *LICENCES):
        assert SWAGGER_UI + name in names, f"{name} is not in the wheel"
    # the bundle points readers to the third-party notices: that file is the one shipped
    bundle_head = wheel.read(SWAGGER_UI + "swagger-ui-bundle.js")[:100].decode()
    assert "see swagger-ui-bundle.js.LICENSE.txt" in bundle_head
    third_party = wheel.read(SWAGGER_UI + "swagger-ui-bundle.js.LICENSE.txt").decode()
    assert "@license React" in third_party and "DOMPurify" in third_party
    notice = wheel.read(SWAGGER_UI + "NOTICE").decode()
    assert "swagger-ui-bundle.js.LICENSE.txt" in notice
    assert "Apache License" in wheel.read(SWAGGER_UI + "LICENSE").decode()


def test_the_project_licence_is_in_the_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    licences = [name for name in wheel.namelist() if name.endswith("/LICENSE")]
    assert any(".dist-info/" in name for name in licences), licences
