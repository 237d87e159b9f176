"""The fenced code blocks of README.md and the pages under docs/: found by page and a short
fingerprint (a piece of text only that block holds), so the tests that run what the pages show
read it from the pages themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHOWN_URL = "http://127.0.0.1:8000"
"""The address the pages give the server (`make serve`'s); tests substitute their own."""

_FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: str
    """Relative to the repository: ``README.md``, ``docs/sdk.md``."""
    line: int
    lang: str
    body: str

    def __str__(self) -> str:
        first = self.body.strip().splitlines()[0] if self.body.strip() else ""
        return f"{self.page}:{self.line} ({self.lang or 'no language'}) {first[:60]}"


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block of ``text``."""
    return [(m.group(2), m.group(3)) for m in _FENCE.finditer(text)]


def section(text: str, title: str, level: int = 2) -> str:
    """The text of the ``## title`` section (``level`` hashes) of a page."""
    hashes = "#" * level
    match = re.search(rf"^{hashes} {re.escape(title)}\n(.*?)(?=^{hashes} |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def page_blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text(encoding="utf-8")
    return [
        Block(page, text[: m.start()].count("\n") + 1, m.group(2), m.group(3))
        for m in _FENCE.finditer(text)
    ]


def all_pages() -> list[str]:
    return ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md"))]


def block(page: str, fingerprint: str) -> Block:
    """The one block of ``page`` whose body holds ``fingerprint``."""
    found = [b for b in page_blocks(page) if fingerprint in b.body]
    assert len(found) == 1, f"{page}: {len(found)} blocks hold {fingerprint!r}"
    return found[0]


def shell_lines(body: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments dropped (a ``#``
    that starts a word outside quotes, as the shell reads it)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = (_without_comment(line) for line in joined.splitlines())
    return [line for line in lines if line]


def _without_comment(line: str) -> str:
    """``line`` up to its comment: a ``#`` at the start of a word, outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()
