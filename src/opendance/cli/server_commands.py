"""The server's commands: ``serve``, ``worker``, ``migrate``, and the admin groups (accounts,
keys, credits, webhooks, models, storage). They need the ``server`` extra's dependencies;
``opendance.cli.main`` registers them only when those are installed."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from opendance.cli.admin import accounts_app, credits_app, keys_app
from opendance.cli.choices import choice_option
from opendance.cli.common import (
    build_settings,
    configure_logging,
    emit,
    run_async,
    run_with_context,
)
from opendance.cli.models import models_app
from opendance.cli.panels import ADMIN, SERVER
from opendance.cli.storage import storage_app
from opendance.cli.webhook_commands import webhooks_app
from opendance.engines.registry import ENGINES
from opendance.settings import CHOICES, Settings

ENGINE_NAMES = tuple(ENGINES)

EngineOption = Annotated[
    str | None,
    choice_option("--engine", values=ENGINE_NAMES, help="The engine (env OPENDANCE_ENGINE)."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Local diffusers directory (env OPENDANCE_MODEL_PATH)."),
]
ImageModelOption = Annotated[
    Path | None,
    typer.Option(
        "--image-model", help="wan: image-to-video pipeline (env OPENDANCE_IMAGE_MODEL_PATH)."
    ),
]
AudioModelOption = Annotated[
    Path | None,
    typer.Option(
        "--audio-model", help="wan: StableAudio pipeline (env OPENDANCE_AUDIO_MODEL_PATH)."
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="auto, cpu, cuda, cuda:N, mps (env OPENDANCE_DEVICE)."),
]
DtypeOption = Annotated[
    str | None,
    choice_option(
        "--dtype", values=CHOICES["dtype"], help="Weights' precision (env OPENDANCE_DTYPE)."
    ),
]
RecipeOption = Annotated[
    str | None,
    choice_option(
        "--recipe",
        values=CHOICES["recipe"],
        help="Model engines' speed preset (env OPENDANCE_RECIPE, default quality).",
    ),
]
StepCacheOption = Annotated[
    str | None,
    choice_option(
        "--step-cache",
        values=CHOICES["step_cache"],
        help="Reuse transformer work between steps; overrides the recipe's "
        "(env OPENDANCE_STEP_CACHE).",
    ),
]
CompileOption = Annotated[
    str | None,
    choice_option(
        "--compile",
        values=CHOICES["compile"],
        help="torch.compile the transformer's blocks or all of it; overrides the recipe's "
        "(env OPENDANCE_COMPILE).",
    ),
]
QuantizationOption = Annotated[
    str | None,
    choice_option(
        "--quantization",
        values=CHOICES["quantization"],
        help="Transformer weights (env OPENDANCE_QUANTIZATION, default none).",
    ),
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        help="Tasks one worker process runs at once; model engines load one copy per task "
        "(env OPENDANCE_WORKER_CONCURRENCY, default 1).",
    ),
]


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat | None,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line on stderr (env OPENDANCE_LOG_FORMAT).",
    ),
]


def _runner_settings(
    ctx: typer.Context,
    *,
    engine: EngineOption = None,
    model: ModelOption = None,
    image_model: ImageModelOption = None,
    audio_model: AudioModelOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    recipe: RecipeOption = None,
    step_cache: StepCacheOption = None,
    compile: CompileOption = None,
    quantization: QuantizationOption = None,
    log_format: LogFormatOption = None,
    concurrency: ConcurrencyOption = None,
    **overrides: object,
) -> Settings:
    """The settings of serve and worker from their shared flags (engine, logging,
    concurrency) and their own; logging is configured from them."""
    settings = build_settings(
        ctx,
        **overrides,
        log_format=log_format.value if log_format else None,
        worker_concurrency=concurrency,
        engine=engine,
        model_path=model,
        image_model_path=image_model,
        audio_model_path=audio_model,
        device=device,
        dtype=dtype,
        recipe=recipe,
        step_cache=step_cache,
        compile=compile,
        quantization=quantization,
    )
    configure_logging(settings)
    return settings


def _with_runner_flags(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the flags of ``_runner_settings`` after its own: Typer reads them from
    its signature, and ``command`` takes them in ``**runner_flags`` for ``_runner_settings``."""
    own = inspect.signature(command, eval_str=True)
    shared = inspect.signature(_runner_settings, eval_str=True).parameters.values()
    command.__signature__ = own.replace(  # type: ignore[attr-defined]
        parameters=[
            *(p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD),
            *(p for p in shared if p.kind is p.KEYWORD_ONLY),
        ]
    )
    return command


@_with_runner_flags
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (env OPENDANCE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env OPENDANCE_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes to start beside the API (0: the API alone).", min=0),
    ] = 1,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="Do not create the demo account on an empty database.")
    ] = False,
    public_url: Annotated[
        str | None, typer.Option(help="Base of video URLs (env OPENDANCE_PUBLIC_URL).")
    ] = None,
    **runner_flags: Any,
) -> None:
    """Run the API server (and workers)."""
    from opendance.cli.server import run_server

    settings = _runner_settings(ctx, **runner_flags, host=host, port=port, public_url=public_url)
    run_async(run_server(settings, workers=workers, demo=not no_demo))


@_with_runner_flags
def worker(ctx: typer.Context, **runner_flags: Any) -> None:
    """Run one worker process: take tasks from the queue and render them."""
    from opendance.cli.server import run_worker

    run_async(run_worker(_runner_settings(ctx, **runner_flags)))


def migrate(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create or upgrade the database schema to the newest version."""
    from opendance.db.migrate import current_revision

    async def use_case(c: object) -> str | None:
        from opendance.services.context import AppContext

        assert isinstance(c, AppContext)
        return await current_revision(c.db)

    revision = run_with_context(build_settings(ctx), use_case)
    emit({"revision": revision}, as_json, f"database at revision {revision}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=SERVER)(serve)
    app.command(rich_help_panel=SERVER)(worker)
    app.command(rich_help_panel=SERVER)(migrate)
    app.add_typer(models_app, name="models", rich_help_panel=SERVER)
    app.add_typer(storage_app, name="storage", rich_help_panel=SERVER)
    app.add_typer(accounts_app, name="accounts", rich_help_panel=ADMIN)
    app.add_typer(keys_app, name="keys", rich_help_panel=ADMIN)
    app.add_typer(credits_app, name="credits", rich_help_panel=ADMIN)
    app.add_typer(webhooks_app, name="webhooks", rich_help_panel=ADMIN)
