"""Object store commands."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

import typer

from opendance.cli.common import build_settings, emit, run_with_context
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.object_sweep import SweepReport, sweep_unreferenced

storage_app = typer.Typer(
    help="The object store (videos, posters, input images).", no_args_is_help=True
)

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d``."""
    match = _AGE.match(text.strip().lower())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not an age like 30m, 1h or 2d")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


@storage_app.command("sweep")
def sweep(
    ctx: typer.Context,
    min_age: Annotated[
        str,
        typer.Option(
            "--min-age",
            help="Leave objects younger than this alone (an upload is committed moments "
            "after it is made): 30m, 1h, 2d.",
        ),
    ] = "1h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Delete the objects no task refers to (uploads of killed workers, leftovers), and
    first, with OPENDANCE_RETENTION_DAYS set, the files of tasks finished longer ago."""
    age = parse_age(min_age)

    async def run(c: AppContext) -> SweepReport:
        expired = 0
        if not dry_run:
            while found := await tasks.expire_retained(c):  # in batches
                expired += found
        report = await sweep_unreferenced(c, min_age=age, dry_run=dry_run)
        report.expired_tasks = expired
        return report

    report = run_with_context(build_settings(ctx), run)
    emit(report, as_json, _summary(report))


def _summary(report: SweepReport) -> str:
    verb = "would delete" if report.dry_run else "deleted"
    lines = [f"{verb} {key}" for key in report.deleted]
    if report.expired_tasks:
        lines.append(f"retention: deleted the files of {report.expired_tasks} finished task(s)")
    lines.append(
        f"{report.examined} object(s) examined: {report.kept} in use, {report.too_young} too "
        f"young to judge, {report.not_ours} not named by a task; {verb} "
        f"{len(report.deleted)} ({report.deleted_bytes:,} bytes)"
    )
    return "\n".join(lines)
