"""Running a curl command the way a shell and curl would, through httpx: for checking that a
command the pages show really works, without depending on a curl binary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class CurlCommand:
    method: str = "GET"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    data: str | None = None
    form: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)
    """(field, local path) of ``-F name=@path``."""


def parse_curl(command: str, env: Mapping[str, str]) -> CurlCommand:
    """The request a POSIX shell would hand curl: backslash-newlines joined, quotes removed,
    ``$NAME`` expanded where the shell would (outside single quotes). Options the pages do not
    use are refused, so a snippet that grows one is noticed here."""
    tokens = shell_words(command, env)
    if not tokens or tokens[0] != "curl":
        raise ValueError(f"not a curl command: {command[:40]!r}")
    parsed = CurlCommand()
    words = iter(tokens[1:])
    for word in words:
        if word == "-X":
            parsed.method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            parsed.headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw"):
            parsed.data = next(words)
            parsed.method = "POST" if parsed.method == "GET" else parsed.method
        elif word == "--form-string":
            name, _, value = next(words).partition("=")
            parsed.form.append((name, value))
        elif word == "-F":
            name, _, value = next(words).partition("=")
            if value.startswith("@"):
                parsed.files.append((name, value[1:].strip('"')))
            else:
                parsed.form.append((name, value))
        elif word.startswith("-"):
            raise ValueError(f"curl option {word} is not understood here")
        else:
            parsed.url = word
    return parsed


def send(
    command: CurlCommand, client: httpx.Client, files_dir: Path | None = None
) -> httpx.Response:
    """Send it as curl would: with form fields, ``multipart/form-data`` (``-F`` files read
    from ``files_dir``); else the ``-d`` body as it stands, with the headers given."""
    if command.form or command.files:
        parts: list[tuple[str, tuple[str | None, bytes]]] = [
            (name, (None, value.encode())) for name, value in command.form
        ]
        for name, path in command.files:
            if files_dir is None:
                raise ValueError(f"-F {name}=@{path}: no directory to read files from")
            parts.append((name, (Path(path).name, (files_dir / path).read_bytes())))
        return client.request(command.method, command.url, headers=command.headers, files=parts)
    return client.request(
        command.method,
        command.url,
        headers=command.headers,
        content=command.data.encode() if command.data is not None else None,
    )


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shell_words(text: str, env: Mapping[str, str]) -> list[str]:
    """The words of one POSIX shell command line: blanks split, backslash-newline continues
    the line, '...' is literal, "..." and bare text expand ``$NAME`` (an unset one is an
    error: the command would not do what it says)."""
    words: list[str] = []
    word: list[str] | None = None
    i = 0

    def expand(at: int) -> tuple[str, int]:
        found = _NAME.match(text, at + 1)
        if found is None:
            return "$", at + 1
        if found.group() not in env:
            raise ValueError(f"${found.group()} is not set")
        return env[found.group()], found.end()

    while i < len(text):
        char = text[i]
        if text.startswith("\\\n", i):
            i += 2
            continue
        if char in " \t\n":
            if word is not None:
                words.append("".join(word))
                word = None
            i += 1
            continue
        word = word if word is not None else []
        if char == "'":
            end = text.index("'", i + 1)
            word.append(text[i + 1 : end])
            i = end + 1
        elif char == '"':
            i += 1
            while text[i] != '"':
                if text[i] == "\\" and text[i + 1] in '$`"\\':
                    word.append(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    value, i = expand(i)
                    word.append(value)
                else:
                    word.append(text[i])
                    i += 1
            i += 1
        elif char == "\\":
            word.append(text[i + 1])
            i += 2
        elif char == "$":
            value, i = expand(i)
            word.append(value)
        else:
            word.append(char)
            i += 1
    if word is not None:
        words.append("".join(word))
    return words
