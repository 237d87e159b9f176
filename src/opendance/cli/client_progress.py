"""What the client commands show on stderr while they wait: the task's state and progress,
then the download with bytes and speed. stdout stays free for results (and ``--json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

if TYPE_CHECKING:
    from opendance.client import DownloadProgress, Task


def state_word(task: Task) -> str:
    """``IN_PROGRESS`` covers both queued and running; progress tells them apart."""
    if task.done:
        return "succeeded" if task.succeeded else "failed"
    return "running" if task.started else "queued"


class Display:
    """A progress display that can be switched off (``--json``) without changing the caller."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self._progress: Progress | None = None
        self._row: TaskID | None = None

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, highlight=False)

    def waiting(self, task_id: str) -> Display:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._row = self._progress.add_task(f"{task_id}  queued", total=100)
        return self

    def downloading(self, name: str) -> Display:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self.console,
            )
            self._row = self._progress.add_task(f"download {name}", total=None)
        return self

    def on_update(self, task: Task) -> None:
        if self._progress is not None and self._row is not None:
            self._progress.update(
                self._row,
                description=f"{task.task_id}  {state_word(task)}",
                completed=100 if task.done else (task.progress or 0),
                refresh=True,
            )

    def on_download(self, progress: DownloadProgress) -> None:
        if self._progress is not None and self._row is not None:
            self._progress.update(self._row, completed=progress.downloaded, total=progress.total)

    def __enter__(self) -> Display:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress, self._row = None, None
