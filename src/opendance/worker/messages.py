"""What the worker and its engine child process say to each other over their pipe.

    worker -> child   Render(spec, out_path)   Cancel()   Stop()
    child  -> worker  Ready(load_seconds)   LoadFailed(message)
                      Progress(fraction)   Done(stills)   Failed(reason, message)

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

    spec: GenerationSpec
    out_path: str


@dataclass(frozen=True)
class Cancel:
    """Stop the render under way at its next step."""


@dataclass(frozen=True)
class Stop:
    """Exit (cancelling a render under way)."""


ToChild = Render | Cancel | Stop


@dataclass(frozen=True)
class Ready:
    load_seconds: float


@dataclass(frozen=True)
class LoadFailed:
    message: str


@dataclass(frozen=True)
class Progress:
    fraction: float


@dataclass(frozen=True)
class Done:
    stills: Stills
    """The poster, sprite sheet and last frame of the finished video (at ``out_path``)."""


FailureReason = Literal["engine", "cancelled", "internal"]


@dataclass(frozen=True)
class Failed:
    reason: FailureReason
    message: str
    """For the client (``engine``, ``internal``), or the cancel's reason (``cancelled``)."""


FromChild = Ready | LoadFailed | Progress | Done | Failed
