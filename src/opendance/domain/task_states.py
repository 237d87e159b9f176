"""Task states and the one table of allowed moves between them.

Internally a task is ``queued`` (waiting for a worker), ``running`` (leased by a worker),
``succeeded`` or ``failed``. Clients see ``IN_PROGRESS`` for the first two.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def public(self) -> str:
        """The status a client sees in the API."""
        return _PUBLIC[self]

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


_PUBLIC: Final = {
    TaskState.QUEUED: "IN_PROGRESS",
    TaskState.RUNNING: "IN_PROGRESS",
    TaskState.SUCCEEDED: "SUCCESS",
    TaskState.FAILED: "FAILED",
}

# target state -> the states a task may move there from
ALLOWED_SOURCES: Final[dict[TaskState, frozenset[TaskState]]] = {
    # claimed by a worker
    TaskState.RUNNING: frozenset({TaskState.QUEUED}),
    # a lease expired or a worker handed its task back on shutdown
    TaskState.QUEUED: frozenset({TaskState.RUNNING}),
    TaskState.SUCCEEDED: frozenset({TaskState.RUNNING}),
    # a worker reported failure, leases ran out too often, or an operator cancelled it
    TaskState.FAILED: frozenset({TaskState.QUEUED, TaskState.RUNNING}),
}


def sources_for(target: TaskState) -> frozenset[TaskState]:
    """The states from which a task may move to ``target``."""
    return ALLOWED_SOURCES[target]
