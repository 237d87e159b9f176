from __future__ import annotations

import pytest

from opendance.domain.task_states import IllegalTransition, TaskState, check_transition


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (TaskState.SUCCEEDED, TaskState.FAILED),
        (TaskState.FAILED, TaskState.SUCCEEDED),
        (TaskState.QUEUED, TaskState.SUCCEEDED),
        (TaskState.FAILED, TaskState.QUEUED),
        (TaskState.SUCCEEDED, TaskState.RUNNING),
    ],
)
def test_forbidden_moves_are_refused(source: TaskState, target: TaskState) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(source, target)


def test_public_status_names() -> None:
    assert [s.public for s in TaskState] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCESS", "FAILED"]
