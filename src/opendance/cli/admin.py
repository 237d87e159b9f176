"""Operator commands: accounts, keys, credits, migrate."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from opendance.cli.common import build_settings, emit, run_with_context
from opendance.cli.tables import print_rows
from opendance.db.web_users import WebUser
from opendance.services import admin, dashboard_users, invites
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
    email: Annotated[
        str | None, typer.Option(help="E-mail to sign in to the dashboard with.")
    ] = None,
    is_admin: Annotated[
        bool, typer.Option("--admin", help="May use the dashboard's operator view.")
    ] = False,
    invite: Annotated[
        bool, typer.Option("--invite", help="Print an invite link to choose a password.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an account."""

    async def use_case(c: AppContext) -> tuple[WebUser, invites.Invite | None]:
        user = await dashboard_users.create_user(
            c, name, email=email, is_admin=is_admin, credits=credits
        )
        link = await invites.create_invite(c, user.name) if invite else None
        return user, link

    user, link = run_with_context(build_settings(ctx), use_case)
    human = f"created account {user.name} ({user.account_id}), {user.balance} credits"
    if user.is_admin:
        human += ", admin"
    data: dict[str, object] = {
        "id": user.account_id,
        "name": user.name,
        "balance": user.balance,
        "email": user.email,
        "is_admin": user.is_admin,
        "created_at": user.created_at,
    }
    if link is not None:
        human += f"\ninvite link (works once, for {link.expires_in_hours:g} hours): {link.url}"
        data["invite_url"] = link.url
    emit(data, as_json, human)


@accounts_app.command("set-password")
def accounts_set_password(
    ctx: typer.Context,
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set the dashboard password (asked twice, not echoed); signs the account out elsewhere
    and cancels its open invite links."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    user = run_with_context(
        build_settings(ctx), lambda c: dashboard_users.set_password(c, name, password)
    )
    typer.echo(f"password set for {user.name}; sign in at /dashboard")


@accounts_app.command("set-admin")
def accounts_set_admin(
    ctx: typer.Context,
    name: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Take admin rights away.")] = False,
) -> None:
    """Make an account an admin (the dashboard's operator view), or no longer one."""
    user = run_with_context(
        build_settings(ctx), lambda c: dashboard_users.set_admin(c, name, not revoke)
    )
    typer.echo(f"{user.name} is {'an admin' if user.is_admin else 'not an admin'}")


@accounts_app.command("set-email")
def accounts_set_email(ctx: typer.Context, name: str, email: str) -> None:
    """Set the e-mail an account signs in with ("" removes it)."""
    user = run_with_context(
        build_settings(ctx), lambda c: dashboard_users.set_email(c, name, email or None)
    )
    typer.echo(f"{user.name}: e-mail {user.email or '(none)'}")


@accounts_app.command("invite")
def accounts_invite(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """Print a link where the account's user chooses their dashboard password (works once;
    the account's older links stop working)."""
    link = run_with_context(build_settings(ctx), lambda c: invites.create_invite(c, name))
    emit(
        {
            "account": link.account,
            "invite_url": link.url,
            "expires_in_hours": link.expires_in_hours,
        },
        as_json,
        f"{link.url}\n(works once, for {link.expires_in_hours:g} hours)",
    )


@accounts_app.command("list")
def accounts_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List accounts and balances."""
    from opendance.db import accounts as rows

    async def use_case(c: AppContext) -> list[rows.Account]:
        async with c.db.read() as conn:
            return await rows.list_accounts(conn)

    found = run_with_context(build_settings(ctx), use_case)
    if as_json:
        emit(found, as_json, "")
        return
    shown = [(a.name, str(a.balance), a.id) for a in found]
    print_rows(("NAME", "BALANCE", "ID"), shown, empty="(none)", right={1})


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
    if as_json:
        emit(found, as_json, "")
        return
    rows = [
        (k.id, f"{k.prefix}…{k.last4}", "revoked" if k.revoked_at else "active", k.name or "")
        for k in found
    ]
    print_rows(("ID", "KEY", "STATE", "NAME"), rows, empty="(no keys)")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str, as_json: JsonFlag = False) -> None:
    """Revoke a key; requests with it get 401 at once."""
    record = run_with_context(build_settings(ctx), lambda c: admin.revoke_key(c, key_id))
    emit(record, as_json, f"revoked {record.id}")


# `-5` is an amount, not an unknown option: taking credits back reads as the docs show it
@credits_app.command("grant", context_settings={"ignore_unknown_options": True})
def credits_grant(
    ctx: typer.Context,
    account: str,
    amount: Annotated[
        int, typer.Argument(help="Credits to add; a negative amount takes some back: -5.")
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
    data = {
        "account": report.account.name,
        "balance": report.account.balance,
        "ledger": report.ledger,
    }
    if as_json:
        emit(data, as_json, "")
        return
    typer.echo(f"{report.account.name}: balance {report.account.balance}")
    rows = [
        (f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.kind, f"{e.amount:+d}", e.task_id or e.note or "")
        for e in report.ledger
    ]
    if rows:
        print_rows(("WHEN (UTC)", "KIND", "CREDITS", "TASK OR NOTE"), rows, empty="", right={2})
