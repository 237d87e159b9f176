"""``opendance generate | status | download | list | cancel``: the API's client side, over HTTP
only.

These commands never open the database; the root options ``--data-dir`` and ``--database-url``
do not apply to them. Results go to stdout (JSON with ``--json``); progress, notes and errors go
to stderr, so ``--json`` output can be piped.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from opendance.cli.choices import choice_option
from opendance.cli.client_progress import Display, state_word
from opendance.cli.panels import CLIENT
from opendance.domain.presets import ASPECT_RATIOS, DURATIONS, RESOLUTIONS

if TYPE_CHECKING:
    from opendance.client import Client, GenerateOptions, Task

# Ctrl-C exits like a shell does on SIGINT: 128 + 2.
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT = 1800.0

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="API base URL (env OPENDANCE_BASE_URL; default http://127.0.0.1:8000)."
    ),
]
ApiKey = Annotated[str | None, typer.Option("--api-key", help="API key (env OPENDANCE_API_KEY).")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts; no progress display.")
]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Save the video here (implies --wait).")
]
Timeout = Annotated[
    float, typer.Option(help="Give up waiting after this many seconds (the task runs on).", min=1)
]
# the most tasks GET /v1/tasks answers at once
MAX_PAGE = 100


class StatusFilter(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


@dataclass
class Session:
    """One client command: the SDK client, where output goes, how to tell the user."""

    client: Client
    display: Display
    as_json: bool
    base_url_flag: str | None

    def command(self, *args: str) -> str:
        """An ``opendance`` command line to suggest, with the same --base-url if one was given."""
        base = ("--base-url", self.base_url_flag) if self.base_url_flag else ()
        return shlex.join(["opendance", *args, *base])

    def emit(self, data: Any, human: str) -> None:
        typer.echo(json.dumps(data, indent=2) if self.as_json else human)

    def follow(self, task_id: str, output: Path | None, timeout: float) -> None:
        """Wait for the task with a progress display, then save its video to ``output``."""
        try:
            with self.display.waiting(task_id) as display:
                task = self.client.wait(task_id, timeout=timeout, on_update=display.on_update)
            if task.failed:
                self._report_failure(task)
            saved = None
            if output is not None and task.video_url:
                with self.display.downloading(output.name) as display:
                    saved = self.client.download(
                        task.video_url, output, on_progress=display.on_download
                    )
        except KeyboardInterrupt:
            self._interrupted(task_id, output)
        self._report_success(task, saved)

    def _report_success(self, task: Task, saved: Path | None) -> None:
        data = dict(task.raw)
        if saved is not None:
            data["file"] = str(saved)
            human = f"saved {saved} ({saved.stat().st_size} bytes)"
        else:
            human = task.video_url or ""
        self.emit(data, human)

    def _report_failure(self, task: Task) -> NoReturn:
        if self.as_json:
            typer.echo(json.dumps(task.raw, indent=2))
        typer.echo(f"error: task {task.task_id} failed: {task.error_message}", err=True)
        typer.echo("  its credits were refunded", err=True)
        raise typer.Exit(code=1)

    def _interrupted(self, task_id: str, output: Path | None) -> NoReturn:
        target = str(output) if output is not None else f"{task_id}.mp4"
        typer.echo(
            f"\nStopped waiting. Task {task_id} keeps running on the server.\n"
            f"  check it:   {self.command('status', task_id)}\n"
            f"  resume:     {self.command('status', task_id, '--wait', '-o', target)}\n"
            f"  video:      {self.command('download', task_id, '-o', target)}",
            err=True,
        )
        raise typer.Exit(code=EXIT_INTERRUPTED)


@contextmanager
def session(base_url: str | None, api_key: str | None, as_json: bool) -> Iterator[Session]:
    from opendance.cli.client_errors import explain
    from opendance.client import (
        BASE_URL_ENV,
        DEFAULT_BASE_URL,
        Client,
        OpendanceClientError,
        PollPolicy,
    )

    display = Display(Console(stderr=True), enabled=not as_json)
    try:
        # A progress bar wants fresh numbers: poll often, but never more than 2 s apart.
        with Client(base_url, api_key, polling=PollPolicy(poll=0.5, max_poll=2.0)) as client:
            yield Session(client, display, as_json, base_url)
    except OpendanceClientError as exc:
        where = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        shown = explain(exc, base_url=where)
        fail(shown.message, shown.hint, shown.code, as_json=as_json)


def fail(message: str, hint: str | None, code: str, *, as_json: bool) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"  {hint}", err=True)
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "message": message, "hint": hint}}))
    raise typer.Exit(code=1)


def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows (1 to 2000 characters).")],
    aspect_ratio: Annotated[
        str | None,
        choice_option(values=ASPECT_RATIOS, help="Frame shape (the server's default: 1:1)."),
    ] = None,
    resolution: Annotated[
        str | None,
        choice_option(values=RESOLUTIONS, help="Frame height (the server's default: 720p)."),
    ] = None,
    duration: Annotated[
        int | None,
        choice_option(values=DURATIONS, help="Seconds (the server's default: 8)."),
    ] = None,
    audio: Annotated[bool, typer.Option("--audio", help="Generate a soundtrack.")] = False,
    fixed_lens: Annotated[
        bool, typer.Option("--fixed-lens", help="Fixed camera: no pans or zooms.")
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(help="First frame: an http(s) URL, or a local JPEG/PNG/WebP (sent inline)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed and request, same video.")] = None,
    callback_url: Annotated[str | None, typer.Option(help="Webhook URL for the result.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the result, with progress.")
    ] = False,
    output: Output = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Create a video generation task; with --wait (or -o), wait for it and save the video."""
    from opendance.client import image_url

    options: GenerateOptions = {}
    if image is not None:
        try:
            options["image_urls"] = [image_url(image)]
        except (OSError, ValueError) as exc:
            typer.echo(f"error: cannot use --image {image}: {exc}", err=True)
            raise typer.Exit(code=2) from None
    # Unset options are left out, so the server's defaults apply.
    if aspect_ratio is not None:
        options["aspect_ratio"] = aspect_ratio  # type: ignore[typeddict-item]
    if resolution is not None:
        options["resolution"] = resolution  # type: ignore[typeddict-item]
    if duration is not None:
        options["duration"] = duration  # type: ignore[typeddict-item]
    if seed is not None:
        options["seed"] = seed
    if callback_url is not None:
        options["callback_url"] = callback_url
    if audio:
        options["generate_audio"] = True
    if fixed_lens:
        options["fixed_lens"] = True
    with session(base_url, api_key, as_json) as s:
        try:
            submitted = s.client.generate(prompt, **options)
        except KeyboardInterrupt:
            typer.echo("\nInterrupted before the server answered; no task id.", err=True)
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        if not (wait or output is not None):
            s.emit(
                {"task_id": submitted.task_id, "status": submitted.status.value},
                f"{submitted.task_id}\n  follow it: {s.command('status', submitted.task_id)}",
            )
            return
        s.display.note(f"task {submitted.task_id} submitted")
        s.follow(submitted.task_id, output, timeout)


def status(
    task_id: Annotated[str, typer.Argument(help="The task id from 'opendance generate'.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it finishes.")] = False,
    output: Output = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Show a task; with --wait (or -o), wait for it and save the video."""
    with session(base_url, api_key, as_json) as s:
        if wait or output is not None:
            s.follow(task_id, output, timeout)
            return
        task = s.client.status(task_id)
        s.emit(task.raw, _describe(task))


def download(
    task_id_or_url: Annotated[str, typer.Argument(help="A task id, or a video URL.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to save it (default: TASK_ID.mp4).")
    ] = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Save a finished task's video."""
    target = output or Path(_default_name(task_id_or_url))
    with session(base_url, api_key, as_json) as s:
        try:
            with s.display.downloading(target.name) as display:
                saved = s.client.download(task_id_or_url, target, on_progress=display.on_download)
        except KeyboardInterrupt:
            typer.echo("\nDownload stopped; nothing was saved.", err=True)
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        size = saved.stat().st_size
        s.emit({"file": str(saved), "bytes": size}, f"saved {saved} ({size} bytes)")


def list_tasks(
    status: Annotated[
        StatusFilter | None,
        typer.Option(
            case_sensitive=False,
            help="Only tasks IN_PROGRESS (queued or running), SUCCESS or FAILED.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many tasks.")] = 20,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """List your tasks, the newest first."""
    with session(base_url, api_key, as_json) as s:
        wanted = status.value if status is not None else None
        # one task more than shown tells whether there are more
        found = list(
            itertools.islice(s.client.list(wanted, limit=min(limit + 1, MAX_PAGE)), limit + 1)
        )
        shown, more = found[:limit], len(found) > limit
        if as_json:
            s.emit({"tasks": [task.raw for task in shown], "has_more": more}, "")
            return
        if not shown:
            typer.echo("No tasks" + (f" with status {wanted}." if wanted else " yet."))
            return
        from opendance.cli.task_table import print_table

        print_table(shown)
        if more:
            again = ["list", "--limit", str(limit * 2)] + (["--status", wanted] if wanted else [])
            s.display.note(f"the newest {limit} are shown; more: {s.command(*again)}")


def cancel(
    task_id: Annotated[str, typer.Argument(help="The task to cancel (queued or running).")],
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Cancel a queued or running task; its credits are refunded."""
    with session(base_url, api_key, as_json) as s:
        task = s.client.cancel(task_id)
        s.emit(task.raw, f"{task.task_id} cancelled; its credits were refunded")


def register(app: typer.Typer) -> None:
    app.command("generate", rich_help_panel=CLIENT)(generate)
    app.command("status", rich_help_panel=CLIENT)(status)
    app.command("download", rich_help_panel=CLIENT)(download)
    app.command("list", rich_help_panel=CLIENT)(list_tasks)
    app.command("cancel", rich_help_panel=CLIENT)(cancel)


def _describe(task: Task) -> str:
    state = task.status.value if task.done else f"IN_PROGRESS ({state_word(task)}"
    if not task.done:
        state += f" {task.progress}%)" if task.progress is not None else ")"
    lines = [f"{task.task_id}  {state}", f"  credits  {task.consumed_credits}"]
    if task.created_at is not None:
        lines.append(f"  created  {task.created_at.isoformat()}")
    if task.video_url:
        lines.append(f"  video    {task.video_url}")
    if task.error_message:
        lines.append(f"  error    {task.error_message}")
    return "\n".join(lines)


def _default_name(task_id_or_url: str) -> str:
    from opendance.client.images import is_url

    if is_url(task_id_or_url):
        name = task_id_or_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return name or "video.mp4"
    return f"{task_id_or_url}.mp4"
