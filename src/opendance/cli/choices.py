"""Options and arguments with a fixed set of values: the values are listed in the help (as the
metavar) and offered by shell completion; anything else is refused before a command runs.

Typer's own choices come from Enum or Literal types; these take their values from constants
(``domain.presets``, the engine names), so the CLI cannot drift from what the server accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer

T = TypeVar("T", str, int)


def _parser(values: Sequence[T]) -> Callable[[str], T]:
    by_text = {str(value): value for value in values}

    def parse(text: str) -> T:
        try:
            return by_text[text]
        except KeyError:
            shown = ", ".join(by_text)
            raise typer.BadParameter(f"{text!r} is not one of {shown}.") from None

    return parse


def _completer(values: Sequence[T]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [str(value) for value in values if str(value).startswith(incomplete)]

    return complete


def metavar(values: Sequence[str | int]) -> str:
    return "[" + "|".join(str(value) for value in values) + "]"


def choice_option(*param_decls: str, values: Sequence[T], help: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` taking one of ``values`` (given as text, returned as the value)."""
    return typer.Option(
        *param_decls,
        parser=_parser(values),
        autocompletion=_completer(values),
        metavar=metavar(values),
        help=help,
        **kwargs,
    )


def choice_argument(name: str, *, values: Sequence[T], help: str, **kwargs: Any) -> Any:
    """A ``typer.Argument`` named ``name`` in the usage line, taking one of ``values`` (listed
    in its help)."""
    return typer.Argument(
        parser=_parser(values),
        autocompletion=_completer(values),
        metavar=name,
        help=f"{help} One of: {', '.join(str(value) for value in values)}.",
        **kwargs,
    )
