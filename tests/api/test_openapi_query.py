"""Query strings are read as /openapi.json says (``openapi.QUERY_STRINGS``): against a live
server, for every GET and HEAD operation of the document, an unknown parameter changes
nothing, an optional parameter sent empty is one not sent (the document marks each
``allowEmptyValue``), a repeated parameter counts as its last value, and a required one sent
empty is refused. And every query parameter the API's code reads is one the document names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendance.api import openapi
from tests.conftest import make_settings
from tests.support.live import LiveServer

pytestmark = pytest.mark.only_on("sqlite")

SRC = Path(openapi.__file__).resolve().parents[1]
DOC = openapi.build_document()
MISSING_ID = "task_00000000000000000000000000"
PATH_VALUES = {"key": "videos/none.mp4"}
VOLATILE = {"/metrics"}
"""Answers that change from one request to the next (counters): compared by status only."""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    settings = make_settings(
        tmp_path_factory.mktemp("query"),
        rate_limit_per_minute=0,
        account_rate_limit_per_minute=0,
        auth_failures_per_minute=0,
    )
    server = LiveServer(settings, with_worker=False).start()
    key = server.create_account("query", credits=10**6)
    with server.client(key) as client:
        for prompt in ("one", "two"):  # lists with something in them (queued: no worker)
            created = client.post("/v1/generate", json={"prompt": prompt, "duration": 4})
            assert created.status_code == 200, created.text
    try:
        yield server, key
    finally:
        server.stop()


def _reads() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path with its path parameters filled, operation) of every GET and HEAD."""
    found = []
    for path, operations in DOC["paths"].items():
        filled = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), MISSING_ID), path)
        for method, operation in operations.items():
            if method in ("get", "head"):
                found.append((method.upper(), filled, operation))
    return found


READS = _reads()


def _query_params(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == "query"]


def _good(param: dict[str, Any]) -> str:
    schema = param["schema"]
    if "enum" in schema:
        return str(schema["enum"][-1])
    if schema.get("type") == "integer":
        return str(schema["minimum"] + 1)
    return "task_00000000000000000000000001" if param["required"] else "x"


def _bad(param: dict[str, Any]) -> str | None:
    """A value the document refuses (None: it refuses none)."""
    schema = param["schema"]
    if "enum" in schema:
        return "not-one-of-them"
    if schema.get("type") == "integer":
        return str(schema["minimum"] - 1)
    if schema.get("pattern") == r"\S":
        return " "
    return None


def _base(operation: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["name"], _good(p)) for p in _query_params(operation) if p["required"]]


def _answer(client: httpx.Client, method: str, path: str, query: list[tuple[str, str]]) -> Any:
    response = client.request(method, path, params=query, headers={"Accept": "application/json"})
    if path in VOLATILE or "json" not in response.headers.get("content-type", ""):
        return response.status_code, response.headers.get("content-type")
    # Ark's error messages end with the request's id
    return response.status_code, re.sub(r"Request id: \w+", "", response.text)


@pytest.mark.parametrize(("method", "path", "operation"), READS, ids=[r[1] for r in READS])
def test_an_unknown_parameter_is_ignored(
    live: tuple[LiveServer, str], method: str, path: str, operation: dict[str, Any]
) -> None:
    server, key = live
    base = _base(operation)
    with server.client(key) as client:
        expected = _answer(client, method, path, base)
        for extra in (("unknown", "1"), ("unknown", ""), ("limit[gt]", "x")):
            if extra[0] in {p["name"] for p in _query_params(operation)}:
                continue
            assert _answer(client, method, path, [*base, extra]) == expected, extra


QUERIED = [
    (method, path, operation, param)
    for method, path, operation in READS
    for param in _query_params(operation)
]


@pytest.mark.parametrize(
    ("method", "path", "operation", "param"),
    QUERIED,
    ids=[f"{m} {p} {q['name']}" for m, p, _, q in QUERIED],
)
def test_empty_and_repeated_parameters_read_as_documented(
    live: tuple[LiveServer, str],
    method: str,
    path: str,
    operation: dict[str, Any],
    param: dict[str, Any],
) -> None:
    server, key = live
    name = param["name"]
    others = [item for item in _base(operation) if item[0] != name]
    good, bad = _good(param), _bad(param)
    with server.client(key) as client:

        def answer(*values: str) -> Any:
            return _answer(client, method, path, [*others, *((name, v) for v in values)])

        if param["required"]:
            assert "allowEmptyValue" not in param
            assert answer("")[0] == 400, "a required parameter sent empty is refused"
        else:
            assert param.get("allowEmptyValue") is True
            assert answer("") == answer(), "an empty parameter is one not sent"
        if bad is None or param["schema"].get("type") == "array":
            return
        assert 400 <= answer(bad)[0] < 500, f"{name}={bad!r} is refused"
        assert answer(good)[0] < 400 or answer(good)[0] == 404, answer(good)
        # the last of repeated values counts
        assert answer(bad, good) == answer(good)
        assert answer(good, bad) == answer(bad)


def test_an_array_parameter_takes_every_value(live: tuple[LiveServer, str]) -> None:
    server, key = live
    with server.client(key) as client:
        everything = client.get(openapi.ARK_TASKS).json()
        ids = [item["id"] for item in everything["items"]]
        assert len(ids) == 2
        both = client.get(openapi.ARK_TASKS, params=[("filter.task_ids", i) for i in ids]).json()
        one = client.get(openapi.ARK_TASKS, params=[("filter.task_ids", ids[0])]).json()
        assert both["total"] == 2 and one["total"] == 1


def test_the_document_says_how_query_strings_are_read() -> None:
    assert openapi.QUERY_STRINGS in DOC["info"]["description"]


_READ = re.compile(
    r"""(?:query_params|params)\.(?:get|getlist)\("([^"]+)"|_positive\(params, "([^"]+)\""""
)


def test_every_query_parameter_the_api_reads_is_documented() -> None:
    """The API's readers of query strings (src/opendance/api and services) read only names
    the document gives some operation: a parameter added to the code and not to the document
    fails here."""
    read = {
        a or b
        for folder in ("api", "services")
        for source in (SRC / folder).glob("*.py")
        for a, b in _READ.findall(source.read_text())
    }
    documented = {p["name"] for _, _, operation in READS for p in _query_params(operation)}
    assert read, "the pattern finds the readers"
    assert read <= documented, f"read but not documented: {sorted(read - documented)}"
    assert documented <= read, f"documented but never read: {sorted(documented - read)}"
