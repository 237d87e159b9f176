"""The operator's dashboard commands: users with e-mail and admin rights, passwords, invites."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from opendance.bootstrap import open_context
from opendance.errors import AdminError
from opendance.services import invites, web_sessions
from opendance.settings import Settings
from tests.support.processes import cli, cli_json, opendance_env


def _set_password(data: Path, account: str, typed: str) -> subprocess.CompletedProcess[str]:
    """``opendance accounts set-password ACCOUNT --password-stdin``, typed in as a person would."""
    command = ("accounts", "set-password", account, "--password-stdin")
    return subprocess.run(
        [sys.executable, "-m", "opendance", *command],
        input=typed,
        env=opendance_env(data),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_an_admin_with_an_invite_then_set_a_password(tmp_path: Path) -> None:
    data = tmp_path / "d"
    made = cli_json(
        data, "accounts", "create", "ops", "--email", "Ops@Example.com", "--admin", "--invite"
    )
    assert made["is_admin"] is True and made["email"] == "ops@example.com"
    assert "/dashboard/invite/" in made["invite_url"]

    set_password = _set_password(data, "ops", "a long enough password\n")
    assert set_password.returncode == 0, set_password.stderr
    short = _set_password(data, "ops", "short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert "not an admin" in cli(data, "accounts", "set-admin", "ops", "--revoke").stdout

    async def signs_in() -> bool:
        ctx = await open_context(Settings(data_dir=data))
        try:
            return (
                await web_sessions.sign_in(ctx, "ops@example.com", "a long enough password")
                is not None
            )
        finally:
            await ctx.close()

    assert asyncio.run(signs_in())


def test_setting_a_password_cancels_the_open_invite_links(tmp_path: Path) -> None:
    data = tmp_path / "d"
    link = cli_json(data, "accounts", "create", "dora", "--invite")["invite_url"]
    token = link.rsplit("/", 1)[1]
    set_password = _set_password(data, "dora", "the operator's password\n")
    assert set_password.returncode == 0, set_password.stderr

    async def link_state() -> tuple[str | None, str | None]:
        ctx = await open_context(Settings(data_dir=data))
        try:
            still_open = await invites.invited_account(ctx, token)
            try:
                await invites.accept_invite(ctx, token, "the link's password")
                accepted = "accepted"
            except AdminError as exc:
                accepted = str(exc)
            return still_open, accepted
        finally:
            await ctx.close()

    still_open, accepted = asyncio.run(link_state())
    assert still_open is None
    assert accepted == "this invite link was used already or has expired"
