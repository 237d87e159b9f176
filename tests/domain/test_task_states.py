from __future__ import annotations

from opendance.domain.task_states import ALLOWED_SOURCES, TaskState


def test_terminal_states_are_final() -> None:
    for target, sources in ALLOWED_SOURCES.items():
        assert not any(source.terminal for source in sources), target


def test_public_status_names() -> None:
    assert [s.public for s in TaskState] == [
        "IN_PROGRESS",
        "IN_PROGRESS",
        "SUCCESS",
        "FAILED",
        "FAILED",
    ]
