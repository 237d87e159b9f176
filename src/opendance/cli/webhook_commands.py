"""Webhook commands."""

from __future__ import annotations

from typing import Annotated

import typer

from opendance.cli.common import build_settings, emit, run_with_context
from opendance.cli.tables import print_rows
from opendance.services import delivery_log, webhook_secrets

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


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="Only this task's deliveries.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account's deliveries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Webhook deliveries (newest first) with every attempt."""
    found = run_with_context(
        build_settings(ctx),
        lambda c: delivery_log.deliveries_view(c, account_name=account, task_id=task),
    )
    if as_json:
        emit(found, as_json, "")
        return
    rows = [(d["id"], d["status"], str(len(d["attempts"])), d["task_id"], d["url"]) for d in found]
    headers = ("DELIVERY", "STATUS", "ATTEMPTS", "TASK", "URL")
    print_rows(headers, rows, empty="(no deliveries)", right={2}, wrap={4})


@webhooks_app.command("redeliver")
def redeliver(
    ctx: typer.Context,
    delivery_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Send a delivery once more (same webhook-id), e.g. after fixing the receiver."""
    run_with_context(build_settings(ctx), lambda c: delivery_log.redeliver(c, delivery_id))
    emit({"id": delivery_id, "status": "pending"}, as_json, f"{delivery_id} queued again")
