"""Typed requests and results of the API. Results keep the server's JSON in ``raw``, so fields a
server adds beyond the contract are never lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]
Resolution = Literal["480p", "720p"]
Duration = Literal[4, 8, 12, "4", "8", "12"]


class TaskStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    """Queued or running."""
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


@dataclass(frozen=True)
class GenerateRequest:
    """The body of ``POST /v1/generate``. ``None`` leaves a field out: the server's default."""

    prompt: str
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    duration: Duration | None = None
    generate_audio: bool | None = None
    fixed_lens: bool | None = None
    image_urls: list[str] | None = None
    callback_url: str | None = None
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields beyond the contract, sent as they are (a server ignores fields it does not know)."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        for name in (
            "prompt",
            "aspect_ratio",
            "resolution",
            "duration",
            "generate_audio",
            "fixed_lens",
            "image_urls",
            "callback_url",
            "seed",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(frozen=True)
class Submitted:
    """The answer to ``POST /v1/generate``: the new task's id; it starts ``IN_PROGRESS``."""

    task_id: str
    status: TaskStatus


@dataclass(frozen=True)
class Task:
    """A task as ``GET /v1/status`` shows it."""

    task_id: str
    status: TaskStatus
    consumed_credits: int
    created_at: datetime | None
    request: dict[str, Any]
    response: list[str]
    """Absolute video URLs; empty until SUCCESS."""
    error_message: str | None
    progress: int | None
    """0 to 100 where the server reports it (an extension of the contract), else ``None``."""
    updated_at: datetime | None
    poster_url: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The ``data`` object exactly as the server sent it."""

    @property
    def video_url(self) -> str | None:
        return self.response[0] if self.response else None

    @property
    def done(self) -> bool:
        return self.status is not TaskStatus.IN_PROGRESS

    @property
    def succeeded(self) -> bool:
        return self.status is TaskStatus.SUCCESS

    @property
    def failed(self) -> bool:
        return self.status is TaskStatus.FAILED

    @property
    def started(self) -> bool:
        """Whether a worker has made progress; ``IN_PROGRESS`` covers queued and running."""
        return self.done or bool(self.progress)


@dataclass(frozen=True)
class TaskPage:
    """One answer of ``GET /v1/tasks``: tasks newest first, and where the next page starts."""

    tasks: list[Task]
    has_more: bool
    last_id: str | None
    """The ``after`` of the next page."""

    @property
    def next_after(self) -> str | None:
        """The cursor of the next page; ``None`` after the last one."""
        return self.last_id if self.has_more else None


@dataclass(frozen=True)
class DownloadProgress:
    """Handed to a download's ``on_progress`` after every chunk written."""

    downloaded: int
    total: int | None
    """From ``Content-Length``; ``None`` when the server does not say."""
