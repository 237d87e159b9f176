"""Operator commands: accounts, keys, credits, migrate."""

from __future__ import annotations

from typing import Annotated

import typer

from opendance.cli.common import build_settings, emit, run_with_context
from opendance.services import admin
from opendance.services.context import AppContext

accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
credits_app = typer.Typer(help="Credits.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    name: str,
    credits: Annotated[int, typer.Option(help="Credits to grant at once.", min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Create an account."""
    account = run_with_context(
        build_settings(ctx), lambda c: admin.create_account(c, name, credits)
    )
    emit(
        account,
        as_json,
        f"created account {account.name} ({account.id}), {account.balance} credits",
    )


@accounts_app.command("list")
def accounts_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List accounts and balances."""
    from opendance.db import accounts as rows

    async def use_case(c: AppContext) -> list[rows.Account]:
        async with c.db.read() as conn:
            return await rows.list_accounts(conn)

    found = run_with_context(build_settings(ctx), use_case)
    emit(found, as_json, "\n".join(f"{a.name}\t{a.balance}\t{a.id}" for a in found) or "(none)")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    account: str,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    new = run_with_context(build_settings(ctx), lambda c: admin.create_key(c, account, name))
    data = {
        "key": new.secret,
        "id": new.record.id,
        "account": new.account,
        "created_at": new.record.created_at,
    }
    emit(data, as_json, f"{new.secret}\n(key id {new.record.id}; shown once, store it now)")


@keys_app.command("list")
def keys_list(ctx: typer.Context, account: str, as_json: JsonFlag = False) -> None:
    """List an account's keys (never the secrets)."""
    found = run_with_context(build_settings(ctx), lambda c: admin.list_keys(c, account))
    lines = [
        f"{k.id}\t{k.prefix}…{k.last4}\t{'revoked' if k.revoked_at else 'active'}\t{k.name or ''}"
        for k in found
    ]
    emit(found, as_json, "\n".join(lines) or "(no keys)")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str, as_json: JsonFlag = False) -> None:
    """Revoke a key; requests with it get 401 at once."""
    record = run_with_context(build_settings(ctx), lambda c: admin.revoke_key(c, key_id))
    emit(record, as_json, f"revoked {record.id}")


@credits_app.command("grant")
def credits_grant(
    ctx: typer.Context,
    account: str,
    amount: Annotated[
        int, typer.Argument(help="Credits to add; to take some back: credits grant NAME -- -5.")
    ],
    note: Annotated[str | None, typer.Option(help="Why, for the ledger.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Grant credits to an account."""
    updated = run_with_context(
        build_settings(ctx), lambda c: admin.grant_credits(c, account, amount, note)
    )
    emit(updated, as_json, f"{updated.name}: balance {updated.balance}")


@credits_app.command("show")
def credits_show(
    ctx: typer.Context,
    account: str,
    limit: Annotated[int, typer.Option(help="Ledger entries to show.", min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Show an account's balance and ledger (newest first)."""
    report = run_with_context(build_settings(ctx), lambda c: admin.credit_report(c, account, limit))
    lines = [f"{report.account.name}: balance {report.account.balance}"]
    lines += [
        f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.kind:<7} {e.amount:+6d}  {e.task_id or e.note or ''}"
        for e in report.ledger
    ]
    data = {
        "account": report.account.name,
        "balance": report.account.balance,
        "ledger": report.ledger,
    }
    emit(data, as_json, "\n".join(lines))
