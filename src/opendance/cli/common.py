"""Shared pieces of the CLI: settings from flags + environment, output, running use cases."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from opendance import logs
from opendance.bootstrap import open_context
from opendance.errors import OpendanceError
from opendance.services.context import AppContext
from opendance.settings import Settings

T = TypeVar("T")


def build_settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Environment (OPENDANCE_*) first, then the root flags, then this command's flags."""
    root: dict[str, Any] = dict(ctx.find_root().obj or {})
    root.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**root)
    except ValidationError as exc:
        # one line per wrong setting, named as the operator sets it, instead of a traceback
        for problem in exc.errors():
            name = "OPENDANCE_" + "_".join(str(part) for part in problem["loc"]).upper()
            message = str(problem["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: {name}: {message}", err=True)
        raise typer.Exit(code=1) from None


def run_with_context(settings: Settings, use_case: Callable[[AppContext], Awaitable[T]]) -> T:
    async def main() -> T:
        app_ctx = await open_context(settings)
        try:
            return await use_case(app_ctx)
        finally:
            await app_ctx.close()

    try:
        return asyncio.run(main())
    except OpendanceError as exc:
        report_error(exc)
        raise typer.Exit(code=1) from None


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed (it comes with uvicorn[standard]): the server's
    throughput depends on it as much as on our own code."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    except OpendanceError as exc:
        report_error(exc)
        raise typer.Exit(code=1) from None


def report_error(exc: OpendanceError) -> None:
    """``error: …`` on stderr; a record instead when the process logs JSON, so that its
    stderr stays one JSON object per line."""
    if logs.json_logging_enabled():
        logging.getLogger("opendance.cli").error("error: %s", exc)
    else:
        typer.echo(f"error: {exc}", err=True)


def emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(to_jsonable(data), indent=2))
    else:
        typer.echo(human)


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Path):
        return str(value)
    return value


def configure_logging(settings: Settings) -> None:
    logs.configure_logging(settings.log_level, settings.log_format)
