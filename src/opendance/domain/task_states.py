"""Task states and the one table of allowed moves between them.

Internally a task is ``queued`` (waiting for a worker), ``running`` (leased by a worker),
``succeeded``, ``failed`` or ``cancelled`` (by its owner, refunded). Clients of the Seedance
dialect see ``IN_PROGRESS`` for the first two and ``FAILED`` for a cancelled task, whose
``error_message`` says so: that dialect knows no other terminal state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def public(self) -> str:
        """The status a client of the Seedance dialect sees."""
        return _PUBLIC[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def refunded(self) -> bool:
        """A task that ends here got its price back (in the transaction that moved it)."""
        return self in (TaskState.FAILED, TaskState.CANCELLED)


TERMINAL: Final = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED})
LIVE: Final = frozenset({TaskState.QUEUED, TaskState.RUNNING})

_PUBLIC: Final = {
    TaskState.QUEUED: "IN_PROGRESS",
    TaskState.RUNNING: "IN_PROGRESS",
    TaskState.SUCCEEDED: "SUCCESS",
    TaskState.FAILED: "FAILED",
    TaskState.CANCELLED: "FAILED",
}

# public Seedance status -> the states it stands for (the dashboard's filter)
PUBLIC_STATUS_STATES: Final[dict[str, tuple[TaskState, ...]]] = {
    public: tuple(state for state in TaskState if state.public == public)
    for public in ("IN_PROGRESS", "SUCCESS", "FAILED")
}

# target state -> the states a task may move there from
ALLOWED_SOURCES: Final[dict[TaskState, frozenset[TaskState]]] = {
    # claimed by a worker
    TaskState.RUNNING: frozenset({TaskState.QUEUED}),
    # a lease expired or a worker handed its task back on shutdown
    TaskState.QUEUED: frozenset({TaskState.RUNNING}),
    TaskState.SUCCEEDED: frozenset({TaskState.RUNNING}),
    # a worker reported failure, or leases ran out too often
    TaskState.FAILED: frozenset({TaskState.QUEUED, TaskState.RUNNING}),
    # its owner cancelled it: a running one's worker finds its lease gone at the next heartbeat
    TaskState.CANCELLED: frozenset({TaskState.QUEUED, TaskState.RUNNING}),
}


def sources_for(target: TaskState) -> frozenset[TaskState]:
    """The states from which a task may move to ``target``."""
    return ALLOWED_SOURCES[target]
