"""Invite links: one use, limited time, only a hash stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from opendance.bootstrap import open_context
from opendance.db.tables import account_invites, accounts
from opendance.db.types import utcnow
from opendance.errors import AdminError
from opendance.services import admin, invites, web_sessions
from tests.conftest import make_settings


async def test_an_invite_sets_the_password_once(tmp_path: Path) -> None:
    ctx = await open_context(make_settings(tmp_path, invite_hours=2))
    try:
        await admin.create_account(ctx, "dana")
        invite = await invites.create_invite(ctx, "dana")
        token = invite.url.rsplit("/", 1)[1]
        assert invite.url.startswith(ctx.settings.resolved_public_url + "/dashboard/invite/")
        async with ctx.db.read() as conn:
            stored = (await conn.execute(select(account_invites.c.token_hash))).scalar_one()
        assert stored == invites.token_hash(token) and token not in stored
        assert await invites.invited_account(ctx, token) == "dana"

        with pytest.raises(AdminError, match="at least 8"):
            await invites.accept_invite(ctx, token, "short")
        assert await invites.invited_account(ctx, token) == "dana"  # a bad try uses nothing up

        await invites.accept_invite(ctx, token, "a good password")
        assert await web_sessions.sign_in(ctx, "dana", "a good password")
        assert await invites.invited_account(ctx, token) is None
        with pytest.raises(AdminError, match="used already or has expired"):
            await invites.accept_invite(ctx, token, "another password")
    finally:
        await ctx.close()


async def test_an_expired_invite_does_nothing(tmp_path: Path) -> None:
    ctx = await open_context(make_settings(tmp_path))
    try:
        await admin.create_account(ctx, "erin")
        token = (await invites.create_invite(ctx, "erin")).url.rsplit("/", 1)[1]
        async with ctx.db.write() as conn:
            await conn.execute(
                update(account_invites).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert await invites.invited_account(ctx, token) is None
        with pytest.raises(AdminError):
            await invites.accept_invite(ctx, token, "a good password")
        async with ctx.db.read() as conn:
            assert (await conn.execute(select(accounts.c.password_hash))).scalar_one() is None
    finally:
        await ctx.close()


async def test_unknown_accounts_get_no_invite(tmp_path: Path) -> None:
    ctx = await open_context(make_settings(tmp_path))
    try:
        with pytest.raises(AdminError, match="no account named"):
            await invites.create_invite(ctx, "nobody")
    finally:
        await ctx.close()
