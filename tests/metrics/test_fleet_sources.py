"""The fleet's cumulative figures (durations, webhook attempts, credits) are sums over rows;
Prometheus counters and histograms must never go down, so those rows must never be deleted or
changed once counted. These tests read the code for anything that would break that."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from opendance.domain.task_states import ALLOWED_SOURCES, TaskState

SRC = Path(__file__).resolve().parents[2] / "src" / "opendance"
COUNTED_TABLES = {"tasks", "ledger", "webhook_attempts"}
APPEND_ONLY_TABLES = {"ledger", "webhook_attempts"}
RAW_DELETE = re.compile(
    r"\b(DELETE\s+FROM|TRUNCATE)\s+\"?(" + "|".join(COUNTED_TABLES) + r")\b", re.IGNORECASE
)


def _sources() -> Iterator[tuple[Path, ast.Module, str]]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:  # schema history (downgrades drop tables)
            continue
        text = path.read_text()
        yield path, ast.parse(text), text


def _statements(tree: ast.Module, verb: str) -> Iterator[tuple[int, str]]:
    """``delete(tasks)``, ``sa.delete(tables.tasks)``: the line and the table's name."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        target = node.args[0]
        table = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        if name == verb and table is not None:
            yield node.lineno, table


def test_the_code_finds_the_statements_it_looks_for() -> None:
    # the scan itself works: it sees the deletes and updates that do exist
    found = {(verb, table) for _, tree, _ in _sources() for verb in ("delete", "update")
             for _, table in _statements(tree, verb)}  # fmt: skip
    assert ("delete", "workers") in found and ("update", "tasks") in found


def test_no_code_deletes_rows_the_metrics_count() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} deletes from {table}"
        for path, tree, _ in _sources()
        for line, table in _statements(tree, "delete")
        if table in COUNTED_TABLES
    ]
    offenders += [
        f"{path.relative_to(SRC)}: raw SQL {match.group(0)!r}"
        for path, _, text in _sources()
        for match in RAW_DELETE.finditer(text)
    ]
    assert offenders == [], "the fleet metrics assume these rows are never deleted"


def test_ledger_rows_and_webhook_attempts_are_never_updated() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} updates {table}"
        for path, tree, _ in _sources()
        for line, table in _statements(tree, "update")
        if table in APPEND_ONLY_TABLES
    ]
    assert offenders == []


def test_a_finished_task_never_changes_state_again() -> None:
    for target, sources in ALLOWED_SOURCES.items():
        assert not any(source.terminal for source in sources), target
    assert {state for state in TaskState if state.terminal} == {
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.CANCELLED,
    }


def test_tasks_are_updated_only_by_the_guarded_queue_statements() -> None:
    # db/tasks.py guards every UPDATE by status (claim: queued, heartbeat: running, the rest
    # through the transition table), so a finished task's times stay as they were counted.
    # An UPDATE anywhere else must keep that true: check it, then extend this list.
    places = {
        path.relative_to(SRC).as_posix()
        for path, tree, _ in _sources()
        for _, table in _statements(tree, "update")
        if table == "tasks"
    }
    assert places == {"db/tasks.py"}
