"""The reads on every request's path: inline sqlite3 on SQLite, the async engine on PostgreSQL,
with the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from opendance import errors
from opendance.bootstrap import open_context
from opendance.db import accounts as account_rows
from opendance.db.hotreads import AsyncpgReads, SqliteInlineReads
from opendance.db.types import utcnow
from opendance.domain.task_states import TaskState
from opendance.services import admin, auth
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.support.factories import account_with_key, submit


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def test_hot_reads_find_the_key_owner_and_only_its_own_tasks(
    ctx: AppContext, backend: str
) -> None:
    expected = SqliteInlineReads if backend == "sqlite" else AsyncpgReads
    assert isinstance(ctx.reads, expected)
    owner = await account_with_key(ctx, "reader")
    task_id = await submit(ctx, owner)
    secret = (await admin.create_key(ctx, "reader")).secret
    found = await ctx.reads.key_owner(secret)
    assert found is not None and found.account_id == owner.account_id
    key_owner, task = await ctx.reads.key_owner_and_task(secret, task_id)
    assert key_owner is not None and key_owner.account_id == owner.account_id
    assert task is not None and task.id == task_id and task.status is TaskState.QUEUED
    assert task.created_at.tzinfo is not None and task.request.prompt
    await admin.create_account(ctx, "other", 10)
    stranger = (await admin.create_key(ctx, "other")).secret
    assert (await ctx.reads.key_owner_and_task(stranger, task_id))[1] is None
    assert await ctx.reads.key_owner("sk-not-a-key") is None


async def test_a_key_past_its_end_is_refused_on_both_read_paths(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "reader")
    task_id = await submit(ctx, owner)
    async with ctx.db.write() as conn:
        ended, _ = await account_rows.create_key(
            conn, owner.account_id, expires_at=utcnow() - timedelta(seconds=1)
        )
        running, record = await account_rows.create_key(
            conn, owner.account_id, expires_at=utcnow() + timedelta(hours=1)
        )
    for secret in (ended, running):
        found = await ctx.reads.key_owner(secret)
        assert found is not None and found.expires_at is not None
        assert found.expires_at.tzinfo is not None
    with pytest.raises(errors.InvalidApiKey):
        await auth.authenticate(ctx, f"Bearer {ended}")
    with pytest.raises(errors.InvalidApiKey):
        await auth.authenticate_with_task(ctx, f"Bearer {ended}", task_id)
    assert (await auth.authenticate(ctx, f"Bearer {running}")).key_id == record.id
    accepted, task = await auth.authenticate_with_task(ctx, f"Bearer {running}", task_id)
    assert accepted.key_id == record.id and task is not None and task.id == task_id
