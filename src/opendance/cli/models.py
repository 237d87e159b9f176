"""``opendance models``: tiny pipelines to try the model engines without weights, and a check
that the configured model loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opendance.cli.choices import choice_argument, choice_option
from opendance.cli.common import build_settings, emit
from opendance.engines.registry import ENGINES
from opendance.settings import CHOICES

models_app = typer.Typer(help="Model engines: make tiny test pipelines, check the configured one.")

KINDS = ("ltx2", "wan", "wan-i2v", "stable-audio")


@models_app.command("make-tiny")
def make_tiny(
    kind: Annotated[str, choice_argument("KIND", values=KINDS, help="The pipeline to make.")],
    directory: Annotated[Path, typer.Argument(help="Where to save the pipeline.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Save a tiny random-weight pipeline of the real architecture (noise video, seconds on a
    CPU): point OPENDANCE_MODEL_PATH (ltx2, wan), OPENDANCE_IMAGE_MODEL_PATH (wan-i2v) or
    OPENDANCE_AUDIO_MODEL_PATH (stable-audio) at it."""
    try:
        from opendance.engines.diffusers.tiny import make_tiny as build
    except ImportError as exc:
        typer.echo(f"error: {_missing_extra(exc)}", err=True)
        raise typer.Exit(code=1) from None
    path = build(kind, directory)
    emit(
        {"kind": kind, "path": str(path.resolve())},
        as_json,
        f"saved a tiny {kind} pipeline to {path}",
    )


@models_app.command("check")
def check(
    ctx: typer.Context,
    engine: Annotated[
        str | None,
        choice_option("--engine", values=tuple(ENGINES), help="Engine (env OPENDANCE_ENGINE)."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model directory (env OPENDANCE_MODEL_PATH).")
    ] = None,
    recipe: Annotated[
        str | None,
        choice_option(
            "--recipe", values=CHOICES["recipe"], help="Speed preset (env OPENDANCE_RECIPE)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load the configured engine once, as a worker would, and report what it can do and the
    acceleration recipe it runs (preset, steps, guidance, step cache, compile, quantization)."""
    import time

    from opendance.engines.registry import create_engine
    from opendance.errors import OpendanceError

    settings = build_settings(ctx, engine=engine, model_path=model, recipe=recipe)
    started = time.monotonic()
    try:
        loaded = create_engine(settings)
    except ImportError as exc:
        typer.echo(f"error: {_missing_extra(exc)}", err=True)
        raise typer.Exit(code=1) from None
    except OpendanceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    seconds = time.monotonic() - started
    caps = loaded.capabilities
    recipe = getattr(loaded, "recipe", None)  # model engines only
    text = (
        f"engine {loaded.name} loaded in {seconds:.1f} s; audio: {caps.audio}, "
        f"image-to-video: {caps.image_to_video}"
    )
    if recipe is not None:
        text += f"\nrecipe: {recipe.summary()}"
    emit(
        {
            "engine": loaded.name,
            "load_seconds": round(seconds, 2),
            "audio": caps.audio,
            "image_to_video": caps.image_to_video,
            "recipe": recipe.describe() if recipe is not None else None,
        },
        as_json,
        text,
    )


def _missing_extra(exc: ImportError) -> str:
    return (
        f"the model engines need the optional model stack ({exc.name or exc}): "
        "pip install torch first, then pip install 'opendance[models]'"
    )
