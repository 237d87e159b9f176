"""What the worker and its engine child process say to each other over their pipe.

    worker -> child   Render(job, spec, out_path)   Cancel(job)   Stop()
    child  -> worker  Ready(load_seconds)   LoadFailed(message)
                      Progress(job, fraction)   Generated(job)
                      Done(job, stills)   Failed(job, reason, message)

A child holds up to two jobs at once: one generating on the device, one in its tail (encode,
stills, probe). Each job has a number the worker gives it; every message about a job names it.

Small frozen dataclasses, pickled by the pipe, matched with ``match`` on either side: a new
message or field is checked by mypy on both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec
    from opendance.media.stills import Stills


@dataclass(frozen=True)
class Render:
    """Make this video into ``out_path`` (a path on the worker's own disk)."""

    job: int
    spec: GenerationSpec
    out_path: str


@dataclass(frozen=True)
class Cancel:
    """Stop this job at its next step, in whichever phase it is."""

    job: int


@dataclass(frozen=True)
class Stop:
    """Exit (cancelling the jobs under way)."""


ToChild = Render | Cancel | Stop


@dataclass(frozen=True)
class Ready:
    load_seconds: float


@dataclass(frozen=True)
class LoadFailed:
    message: str


@dataclass(frozen=True)
class Progress:
    job: int
    fraction: float


@dataclass(frozen=True)
class Generated:
    """The job's frames are made and its tail has begun: the device is free for the next
    job. (With the tail pipelined off, not sent: the job's end frees the device.)"""

    job: int


@dataclass(frozen=True)
class Done:
    job: int
    stills: Stills
    """The poster, sprite sheet and last frame of the finished video (at ``out_path``)."""


FailureReason = Literal["engine", "cancelled", "internal"]


@dataclass(frozen=True)
class Failed:
    job: int
    reason: FailureReason
    message: str
    """For the client (``engine``, ``internal``), or the cancel's reason (``cancelled``)."""


JobMessage = Progress | Generated | Done | Failed
FromChild = Ready | LoadFailed | JobMessage
