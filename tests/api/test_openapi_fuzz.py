"""Schemathesis over every operation of /openapi.json, against a live server on loopback:
no server error, no answer outside the document, and no change of state from a request the
server refused.

Nothing leaves loopback: the server has no worker and no webhook dispatcher (no image is
fetched, no callback is sent), and its resolver knows no name, so a callback_url naming a
host is refused without a DNS lookup (and the address policy refuses private addresses).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from opendance.api import openapi
from opendance.net.resolver import StaticResolver
from tests.conftest import make_settings
from tests.support import db
from tests.support.live import LiveServer

EXAMPLES = 40
"""Per operation and generation mode: about 1400 requests, some 20 s on one core."""
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[LiveServer]:
    server_settings = make_settings(
        tmp_path,
        rate_limit_per_minute=0,
        account_rate_limit_per_minute=0,
        auth_failures_per_minute=0,
    )
    live = LiveServer(server_settings, with_worker=False, resolver=StaticResolver({})).start()
    yield live
    live.stop()


@pytest.mark.only_on("sqlite")
def test_every_operation_survives_fuzzing(fuzzed: LiveServer) -> None:
    key = fuzzed.create_account("fuzz", credits=10**9)
    auth = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_dict(openapi.build_document())
    failures: list[str] = []
    operations = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(fuzzed, session, operation, mode, auth, failures)
    assert operations == sum(len(item) for item in openapi.build_document()["paths"].values())
    assert failures == [], "\n".join(failures)


def _fuzz(
    server: LiveServer,
    session: requests.Session,
    operation: Any,
    mode: GenerationMode,
    auth: dict[str, str],
    failures: list[str],
) -> None:
    # /readyz answers 503 NOT_READY by design here: this server has no worker
    checks = list(CONFORMANCE)
    if operation.path != "/readyz":
        checks.append(not_a_server_error)
    if operation.body:
        # a body the document refuses must be refused. Not for query strings: an empty or a
        # repeated parameter is read as absent or as its last value, and an unknown one is
        # ignored, as the document says (openapi.QUERY_STRINGS; test_openapi_query.py).
        checks.append(negative_data_rejection)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        before = server.call(db.snapshot)
        response = case.call(base_url=server.url, session=session, headers=auth, timeout=30)
        label = f"{mode.value} {case.method} {case.formatted_path} -> {response.status_code}"
        try:
            case.validate_response(response, checks=checks, headers=auth)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{label}: {_describe(exc)}")
        if 400 <= response.status_code < 500 and server.call(db.snapshot) != before:
            failures.append(f"{label}: a refused request changed the database")

    try:
        run()
    except Unsatisfiable:
        # nothing of this operation can break its document (no parameter, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FailureGroup):
        return "; ".join(f"{f.title}: {str(f.message)[:300]}" for f in exc.exceptions)
    return str(exc)[:600]


@pytest.mark.only_on("sqlite")
def test_linked_workflows_survive_fuzzing(fuzzed: LiveServer) -> None:
    """Sequences along the document's links (a create, then the operations that take the id it
    answered), so that reads, remixes and deletes meet tasks that exist."""
    key = fuzzed.create_account("workflows", credits=10**9)
    auth = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_dict(openapi.build_document())
    failures: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        before: dict[str, Any] | None = None

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": fuzzed.url, "headers": auth, "timeout": 30}

        def before_call(self, case: Any) -> None:
            self.before = fuzzed.call(db.snapshot)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            checks = list(CONFORMANCE)
            if case.operation.path != "/readyz":
                checks.append(not_a_server_error)
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            try:
                case.validate_response(response, checks=checks, headers=auth)
            except (AssertionError, FailureGroup) as exc:
                failures.append(f"{label}: {_describe(exc)}")
            refused = 400 <= response.status_code < 500
            if refused and fuzzed.call(db.snapshot) != self.before:
                failures.append(f"{label}: a refused request changed the database")

    Workflow.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert failures == [], "\n".join(failures)
