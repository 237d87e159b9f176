"""The ``opendance`` command.

The client commands (generate, status, download, list, cancel) need only the base install; the
server's commands are registered when the ``server`` extra's dependencies are installed, and
otherwise stand in as commands that say how to install them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from opendance import __version__
from opendance.cli import client_commands
from opendance.cli.panels import ADMIN, CLIENT, SERVER

app = typer.Typer(
    help="Opendance: a self-hostable video generation API server (Seedance 2.0 API).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SERVER_INSTALL = "pip install 'opendance[server]'"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Server commands: data directory (env OPENDANCE_DATA_DIR)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Server commands: database URL (env OPENDANCE_DATABASE_URL)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {k: v for k, v in {"data_dir": data_dir, "database_url": database_url}.items() if v}


client_commands.register(app)  # generate, status, download, list, cancel: HTTP clients of the API


@app.command(rich_help_panel=CLIENT)
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _missing_server(name: str, missing: str) -> Callable[[], None]:
    def command() -> None:
        typer.echo(
            f"error: 'opendance {name}' needs the server's dependencies ({missing} is not "
            f"installed): {SERVER_INSTALL}",
            err=True,
        )
        raise typer.Exit(code=1)

    command.__doc__ = f"Needs the server extra: {SERVER_INSTALL}"
    return command


def _register_missing_server(missing: str) -> None:
    """Stand-ins for the server's commands in a client-only install: each says what to install."""
    loose = {"allow_extra_args": True, "ignore_unknown_options": True}
    for panel, names in (
        (SERVER, ("serve", "worker", "migrate", "models", "storage")),
        (ADMIN, ("accounts", "keys", "credits", "webhooks")),
    ):
        for name in names:
            app.command(name, rich_help_panel=panel, context_settings=loose, add_help_option=False)(
                _missing_server(name, missing)
            )


try:
    from opendance.cli import server_commands
except ModuleNotFoundError as exc:
    # a third-party module is missing: the server extra is not installed (a missing module of
    # Opendance itself is a bug, and says so)
    if exc.name is None or exc.name.split(".")[0] == "opendance":
        raise
    _register_missing_server(exc.name)
else:
    server_commands.register(app)
