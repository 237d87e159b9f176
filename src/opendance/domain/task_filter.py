"""Which of an account's tasks a list shows (a deleted task never)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from opendance.domain.task_states import TaskState


@dataclass(frozen=True)
class TaskFilter:
    statuses: frozenset[TaskState] | None = None
    task_ids: tuple[str, ...] | None = None
    client_model: str | None = None
    expired: bool | None = None
    """Only tasks whose files retention removed (True), only the others (False), or both."""
    unset_model: str | None = None
    """The model a task with no recorded client model shows as in the listing door (a task
    made through another door): ``client_model`` equal to it matches those tasks too."""


ALL_TASKS: Final = TaskFilter()
