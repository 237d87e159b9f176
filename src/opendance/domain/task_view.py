"""A task as readers see it, and a task as the worker that leased it holds it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from opendance.domain.doors import Door
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
    door: Door
    client_model: str | None
    """The model name the client gave (OpenAI and Ark doors), echoed back to it."""
    remixed_from: str | None
    sprite_key: str | None
    last_frame_key: str | None
    finished_at: datetime | None
    expired_at: datetime | None
    """Retention removed its files at this moment (the task itself stays readable)."""

    @property
    def consumed_credits(self) -> int:
        """The charge that stands: a failed or cancelled task was refunded when it ended."""
        return 0 if self.status.refunded else self.price

    def as_created(self) -> TaskView:
        """The task as it was when its create request was answered: what a create repeated
        with the same Idempotency-Key answers again."""
        return dataclasses.replace(
            self,
            status=TaskState.QUEUED,
            progress=0,
            updated_at=self.created_at,
            video_key=None,
            poster_key=None,
            sprite_key=None,
            last_frame_key=None,
            error_message=None,
            finished_at=None,
            expired_at=None,
        )


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


@dataclass(frozen=True)
class ResultFiles:
    """The object keys of what a worker made for a task."""

    video_key: str
    poster_key: str | None = None
    sprite_key: str | None = None
    last_frame_key: str | None = None

    @classmethod
    def made_by(cls, task_id: str, lease_token: int) -> ResultFiles:
        """The keys a worker writes for ``task_id`` under the lease ``lease_token``. They carry
        the fencing token: a stalled worker that lost its lease can never overwrite the files
        of the worker that finished the task, and the sweep of unreferenced objects
        (``services.object_sweep``, which knows these shapes) can tell whose they are."""
        made_by = f"{task_id}-{lease_token}"
        return cls(
            video_key=f"videos/{made_by}.mp4",
            poster_key=f"posters/{made_by}.jpg",
            sprite_key=f"sprites/{made_by}.jpg",
            last_frame_key=f"last_frames/{made_by}.png",
        )

    @property
    def keys(self) -> tuple[str, ...]:
        found = (self.video_key, self.poster_key, self.sprite_key, self.last_frame_key)
        return tuple(key for key in found if key)
