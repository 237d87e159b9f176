"""A task as readers see it, and a task as the worker that leased it holds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import TaskState


@dataclass(slots=True)
class TaskView:
    """What a client may see of a task; each dialect renders its own JSON from it."""

    id: str
    status: TaskState
    request: TaskRequest
    price: int
    created_at: datetime
    updated_at: datetime
    progress: int
    video_key: str | None
    poster_key: str | None
    error_message: str | None

    @property
    def consumed_credits(self) -> int:
        """The charge that stands: a failed or cancelled task was refunded when it ended."""
        return 0 if self.status.refunded else self.price


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a task: every write it makes is fenced by ``token``."""

    task_id: str
    token: int
    owner: str


@dataclass(frozen=True)
class ClaimedTask:
    """A task a worker has just leased: what it needs to make the video."""

    lease: Lease
    account_id: str
    request: TaskRequest
    attempts: int
    input_image_key: str | None

    @property
    def id(self) -> str:
        return self.lease.task_id
