"""Webhook commands."""

from __future__ import annotations

from typing import Annotated

import typer

from opendance.cli.common import build_settings, emit, run_with_context
from opendance.services import webhook_secrets

webhooks_app = typer.Typer(help="Webhooks (callback_url deliveries).", no_args_is_help=True)


@webhooks_app.command("secret")
def secret(
    ctx: typer.Context,
    account: str,
    rotate: Annotated[
        bool,
        typer.Option(help="Make a new secret; the old one keeps signing for 24 hours."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show (creating it on first use) or rotate an account's webhook signing secret."""
    action = webhook_secrets.rotate_secret if rotate else webhook_secrets.show_secret
    secrets = run_with_context(build_settings(ctx), lambda c: action(c, account))
    data = {
        "secret": secrets.current,
        "previous_secret": secrets.previous,
        "rotated_at": secrets.rotated_at,
    }
    emit(data, as_json, secrets.current)
