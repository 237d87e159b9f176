"""``opendance list`` for people: one row per task, the newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from opendance.cli.client_progress import state_word

if TYPE_CHECKING:
    from opendance.client import Task

STATE_STYLES = {"queued": "yellow", "running": "cyan", "succeeded": "green", "failed": "red"}
MIN_PROMPT = 12
COLUMN_GAP = 2  # spaces between two columns: the padding on either side
COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("TASK", "left"),
    ("STATUS", "left"),
    ("CREATED (UTC)", "left"),
    ("REQUEST", "left"),
    ("CREDITS", "right"),
)


def print_table(tasks: Sequence[Task]) -> None:
    """The table on stdout. The columns other than the prompt keep their width (ids are what
    the other commands take); the prompt gets the rest of the line, cut short with an ellipsis,
    and at least a few characters even on a narrow terminal."""
    width = Console().width
    table = task_table(tasks, width)
    Console(width=max(width, _fixed_width(table) + MIN_PROMPT)).print(table)


def task_table(tasks: Sequence[Task], width: int) -> Table:
    rows = [
        (
            task.task_id,
            _state(task),
            task.created_at.strftime("%Y-%m-%d %H:%M") if task.created_at else "",
            request_summary(task),
            str(task.consumed_credits),
        )
        for task in tasks
    ]
    table = Table(
        box=None,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        padding=(0, COLUMN_GAP // 2),
    )
    for index, (title, justify) in enumerate(COLUMNS):
        widest = max([len(title), *(len(row[index]) for row in rows)])
        table.add_column(title, justify=justify, no_wrap=True, min_width=widest, max_width=widest)
    prompt_width = max(MIN_PROMPT, width - _fixed_width(table))
    table.add_column("PROMPT", no_wrap=True, overflow="ellipsis", max_width=prompt_width)
    for task, row in zip(tasks, rows, strict=True):
        table.add_row(*row, str(task.request.get("prompt", "")))
    return table


def _fixed_width(table: Table) -> int:
    """The width of the columns before the prompt, with the gaps after each of them."""
    return sum((column.min_width or 0) + COLUMN_GAP for column in table.columns[: len(COLUMNS)])


def request_summary(task: Task) -> str:
    """``480p 16:9 4s +audio``: what was asked for, in the order of the price table."""
    request = task.request
    words = [
        str(request.get("resolution", "")),
        str(request.get("aspect_ratio", "")),
        f"{request.get('duration', '')}s",
    ]
    if request.get("generate_audio"):
        words.append("+audio")
    return " ".join(word for word in words if word not in ("", "s"))


def _state(task: Task) -> Text:
    word = state_word(task)
    if word == "running" and task.progress is not None:
        word = f"running {task.progress}%"
    return Text(word, style=STATE_STYLES.get(state_word(task), ""))
