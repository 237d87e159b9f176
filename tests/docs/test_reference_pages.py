"""The generated reference pages are committed as the code gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendance import docs_gen
from opendance.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", [docs_gen.CONFIGURATION_PAGE, docs_gen.CLI_PAGE], ids=str)
def test_the_committed_page_is_current(page: Path) -> None:
    committed = (ROOT / page).read_text(encoding="utf-8")
    assert committed == docs_gen.pages()[page], (
        f"{page} is stale: run `python -m opendance.docs_gen` and commit the result"
    )


def test_check_mode_finds_a_stale_page(tmp_path: Path) -> None:
    assert docs_gen.main(["--root", str(tmp_path)]) == 0
    assert docs_gen.main(["--root", str(tmp_path), "--check"]) == 0
    page = tmp_path / docs_gen.CLI_PAGE
    page.write_text(page.read_text() + "edited by hand\n")
    assert docs_gen.main(["--root", str(tmp_path), "--check"]) == 1


def test_every_setting_is_described_with_its_variable() -> None:
    page = docs_gen.configuration_page()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description"
        assert f"`OPENDANCE_{name.upper()}`" in page


def test_every_command_is_in_the_cli_page() -> None:
    page = docs_gen.cli_page()
    for command in ("serve", "worker", "generate", "accounts create", "storage sweep"):
        assert f"`opendance {command}`" in page
