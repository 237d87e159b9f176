"""Lists for people: a borderless table with a bold header, like ``opendance list``'s."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import typer
from rich.console import Console
from rich.table import Table


def print_rows(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    right: Collection[int] = (),
    wrap: Collection[int] = (),
) -> None:
    """The rows as a table on stdout, or ``empty`` alone when there are none. Columns are kept
    whole (ids are what other commands take), except those in ``wrap``; those in ``right`` are
    numbers, aligned right."""
    if not rows:
        typer.echo(empty)
        return
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False, padding=(0, 1))
    for index, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if index in right else "left",
            no_wrap=index not in wrap,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*row)
    Console(highlight=False).print(table)
