"""README.md is a short landing page, and what it tells a newcomer to run works: the server
start of the quickstart, the curl walk-through, the SDK and the `openai` SDK examples (host,
port and key substituted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.doc_blocks import ROOT, SHOWN_URL, code_blocks, section
from tests.support.doc_runs import curl_walk_through, is_mp4, run_python
from tests.support.live import free_port
from tests.support.processes import ServeProcess

README = ROOT / "README.md"
README_KEY = "od_..."
MAX_BYTES = 12 * 1024
# the openai SDK marks every Videos method deprecated
SORA_DEPRECATION = "ignore:The Sora API is scheduled:DeprecationWarning"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The text of the README's ``## title`` section."""
    return section(_readme(), title)


def test_readme_is_at_most_12_kb() -> None:
    assert len(README.read_bytes()) <= MAX_BYTES


def test_readme_links_point_at_files_of_the_repository() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", _readme())
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the landing page links the documentation"
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"links to missing files: {missing}"


def test_the_quickstart_commands_are_make_targets() -> None:
    blocks = [body.strip() for _, body in code_blocks(_section("Quickstart"))]
    assert blocks == ["make serve", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    # the server start the tests below run is the one `make serve` runs
    assert re.search(r"^serve:.*\n\t\$\(BIN\)/opendance serve \$\(ARGS\)$", makefile, re.M)
    assert re.search(r"^test:.*\n\t\$\(BIN\)/python -m pytest", makefile, re.M)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    """`opendance serve` as `make serve` runs it (one worker, the demo account), on a free
    port; with the demo key from its banner."""
    process = ServeProcess(tmp_path_factory.mktemp("readme") / "data", free_port()).start()
    try:
        yield process, process.demo_key()
    finally:
        process.stop()


@pytest.mark.slow
def test_the_quickstart_server_prints_a_demo_key_and_serves_the_dashboard(
    server: tuple[ServeProcess, str],
) -> None:
    process, key = server
    assert key.startswith("od_")
    assert "demo" in process.output()
    page = httpx.get(process.url + "/", headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.slow
def test_the_curl_walk_through(server: tuple[ServeProcess, str]) -> None:
    process, key = server
    (_, script), *_ = code_blocks(_section("A video with curl"))
    curl_walk_through(script, process.url, key)


def _python_example(title: str, url: str, key: str) -> str:
    blocks = [body for lang, body in code_blocks(_section(title)) if lang == "python"]
    assert len(blocks) == 1
    source = blocks[0]
    assert SHOWN_URL in source and f'"{README_KEY}"' in source
    return source.replace(SHOWN_URL, url).replace(f'"{README_KEY}"', repr(key))


@pytest.mark.slow
def test_the_sdk_example(
    server: tuple[ServeProcess, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, key = server
    monkeypatch.chdir(tmp_path)
    run_python(_python_example("The Python SDK", process.url, key), "README")
    assert is_mp4(tmp_path / "sunrise.mp4")


@pytest.mark.slow
@pytest.mark.filterwarnings(SORA_DEPRECATION)
def test_the_openai_sdk_example(
    server: tuple[ServeProcess, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, key = server
    monkeypatch.chdir(tmp_path)
    source = _python_example("The `openai` SDK", process.url, key)
    run_python(source, "README")
    assert is_mp4(tmp_path / "fox.mp4")
