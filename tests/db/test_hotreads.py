"""The reads on every request's path: inline sqlite3 on SQLite, the async engine on PostgreSQL,
with the same answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text

from opendance import errors
from opendance.bootstrap import open_context
from opendance.db import accounts as account_rows
from opendance.db.database import Database
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


@pytest.mark.only_on("postgresql")
async def test_concurrent_polls_each_get_their_own_answer(ctx: AppContext) -> None:
    """Polls in flight together share batches; each still reads its own key and task."""
    reader = await account_with_key(ctx, "reader")
    first, second = await submit(ctx, reader), await submit(ctx, reader)
    reader_key = (await admin.create_key(ctx, "reader")).secret
    other = await account_with_key(ctx, "other")
    theirs = await submit(ctx, other)
    other_key = (await admin.create_key(ctx, "other")).secret
    revoked = await admin.create_key(ctx, "other")
    await admin.revoke_key(ctx, revoked.record.id)
    questions = [
        (reader_key, first, reader.account_id, first),
        (reader_key, second, reader.account_id, second),
        (reader_key, theirs, reader.account_id, None),  # another account's task
        (other_key, theirs, other.account_id, theirs),
        (other_key, first, other.account_id, None),
        (revoked.secret, theirs, None, None),
        ("sk-not-a-key", first, None, None),
    ] * 8
    answers = await asyncio.gather(
        *(ctx.reads.key_owner_and_task(secret, task_id) for secret, task_id, _, _ in questions),
        *(ctx.reads.key_owner(secret) for secret, _, _, _ in questions),
    )
    for (_, _, account, task_id), (owner, task) in zip(
        questions, answers[: len(questions)], strict=True
    ):
        assert (owner.account_id if owner else None) == account
        assert (task.id if task else None) == task_id
    for (_, _, account, _), owner in zip(questions, answers[len(questions) :], strict=True):
        assert (owner.account_id if owner else None) == account


@pytest.mark.only_on("postgresql")
async def test_a_key_revoked_while_polls_are_in_flight_is_refused_by_the_next(
    ctx: AppContext,
) -> None:
    owner = await account_with_key(ctx, "reader")
    task_id = await submit(ctx, owner)
    key = await admin.create_key(ctx, "reader")
    in_flight = [
        asyncio.ensure_future(ctx.reads.key_owner_and_task(key.secret, task_id)) for _ in range(20)
    ]
    await admin.revoke_key(ctx, key.record.id)
    assert await ctx.reads.key_owner_and_task(key.secret, task_id) == (None, None)
    with pytest.raises(errors.InvalidApiKey):
        await auth.authenticate(ctx, f"Bearer {key.secret}")
    await asyncio.gather(*in_flight)  # asked before the revocation: either answer is right


@pytest.mark.only_on("postgresql")
async def test_hot_reads_come_back_after_the_server_ended_their_connections(
    ctx: AppContext,
) -> None:
    owner = await account_with_key(ctx, "reader")
    task_id = await submit(ctx, owner)
    key = (await admin.create_key(ctx, "reader")).secret
    assert (await ctx.reads.key_owner_and_task(key, task_id))[1] is not None
    async with ctx.db.write() as conn:
        ended = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert ended >= 1
    # a read on a connection the server just ended may fail (as through the engine, which
    # does not ping either); the pool replaces it and the reads after that all succeed
    with contextlib.suppress(
        asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
    ):
        await ctx.reads.key_owner_and_task(key, task_id)
    await asyncio.sleep(0.1)
    for _ in range(10):
        _, task = await ctx.reads.key_owner_and_task(key, task_id)
        assert task is not None and task.id == task_id
    together = await asyncio.gather(
        *(ctx.reads.key_owner_and_task(key, task_id) for _ in range(20))
    )
    assert all(task is not None for _, task in together)


async def test_a_task_id_the_database_cannot_hold_is_not_found_and_poisons_no_other_poll(
    ctx: AppContext,
) -> None:
    """A NUL byte (``?task_id=%00``) cannot be sent as PostgreSQL text: asked in the same batch
    as other polls, it must not fail their statement. No task has such an id: not found."""
    owner = await account_with_key(ctx, "reader")
    task_id = await submit(ctx, owner)
    key = (await admin.create_key(ctx, "reader")).secret
    answers = await asyncio.gather(
        *(ctx.reads.key_owner_and_task(key, task_id) for _ in range(5)),
        ctx.reads.key_owner_and_task(key, task_id + "\x00"),
        ctx.reads.key_owner_and_task(key, "\udcff"),
        *(ctx.reads.key_owner_and_task(key, task_id) for _ in range(5)),
    )
    for index, (found, task) in enumerate(answers):
        assert found is not None and found.account_id == owner.account_id
        assert (task.id if task else None) == (None if index in (5, 6) else task_id)


@pytest.mark.only_on("postgresql")
def test_the_hot_reads_keep_the_statement_cache_the_url_turns_off() -> None:
    """Behind a pooler in transaction mode the URL carries ``prepared_statement_cache_size=0``
    for the engine; the hot reads' own connections must not keep named statements either."""
    url = "postgresql://app@db.internal/opendance?prepared_statement_cache_size=0"
    assert Database(url).asyncpg_connect_kwargs()["statement_cache_size"] == 0
    plain = Database("postgresql://app@db.internal/opendance").asyncpg_connect_kwargs()
    assert "statement_cache_size" not in plain  # asyncpg's own default


@pytest.mark.only_on("postgresql")
async def test_hot_reads_answer_with_the_statement_cache_off(settings: Settings) -> None:
    url = settings.database_url
    separator = "&" if "?" in url else "?"
    uncached = settings.model_copy(
        update={"database_url": f"{url}{separator}prepared_statement_cache_size=0"}
    )
    context = await open_context(uncached)
    try:
        owner = await account_with_key(context, "reader")
        task_id = await submit(context, owner)
        key = (await admin.create_key(context, "reader")).secret
        answers = await asyncio.gather(
            *(context.reads.key_owner_and_task(key, task_id) for _ in range(10))
        )
        assert all(task is not None and task.id == task_id for _, task in answers)
    finally:
        await context.close()
