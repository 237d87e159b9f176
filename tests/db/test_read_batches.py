"""Reads batched onto a pool of real PostgreSQL connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from opendance.db.read_batches import ReadBatcher
from tests.support import postgres

pytestmark = pytest.mark.only_on("postgresql")

# 100 / q for each question q, in the order asked
TENTHS = "SELECT 100 / q FROM unnest($1::int[]) WITH ORDINALITY AS asked(q, n) ORDER BY n"


@pytest.fixture
async def pool(backend: str) -> AsyncIterator[asyncpg.Pool]:
    url = postgres.current_url()
    assert url is not None
    opened = await asyncpg.create_pool(postgres._plain(url), min_size=1, max_size=1)
    yield opened
    await opened.close()


class Divider:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def send(self, conn: asyncpg.Connection, questions: list[int]) -> list[int]:
        self.batches.append(questions)
        return [row[0] for row in await conn.fetch(TENTHS, questions)]


async def test_questions_asked_together_leave_in_one_statement(pool: asyncpg.Pool) -> None:
    divider = Divider()
    batcher = ReadBatcher(pool, divider.send)
    questions = list(range(1, 51))
    answers = await asyncio.gather(*(batcher.ask(q) for q in questions))
    assert answers == [100 // q for q in questions]
    assert divider.batches == [questions]
    # a lone question later leaves on its own
    assert await batcher.ask(4) == 25
    assert divider.batches[1:] == [[4]]


async def test_questions_asked_while_the_connection_is_busy_take_the_next_batch(
    pool: asyncpg.Pool,
) -> None:
    divider = Divider()
    batcher = ReadBatcher(pool, divider.send)
    first = asyncio.ensure_future(batcher.ask(1))
    await asyncio.sleep(0)  # the first batch takes the only connection
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.ask(q)) for q in (2, 5, 10)]
    assert await first == 100
    assert [await answer for answer in later] == [50, 20, 10]
    assert divider.batches == [[1], [2, 5, 10]]


async def test_a_failed_batch_fails_its_questions_and_the_next_batch_is_answered(
    pool: asyncpg.Pool,
) -> None:
    batcher = ReadBatcher(pool, Divider().send)
    failed = await asyncio.gather(*(batcher.ask(q) for q in (1, 0, 2)), return_exceptions=True)
    assert all(isinstance(answer, asyncpg.DivisionByZeroError) for answer in failed)
    assert await batcher.ask(5) == 20


async def test_a_question_cancelled_while_waiting_leaves_the_others_answered(
    pool: asyncpg.Pool,
) -> None:
    divider = Divider()
    batcher = ReadBatcher(pool, divider.send)
    first = asyncio.ensure_future(batcher.ask(1))
    await asyncio.sleep(0)  # the first batch takes the only connection
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(batcher.ask(q)) for q in (2, 4, 5)]
    await asyncio.sleep(0)  # all three wait for the connection
    waiting[1].cancel()
    assert await first == 100
    assert await waiting[0] == 50 and await waiting[2] == 20
    assert waiting[1].cancelled()
    assert divider.batches == [[1], [2, 5]]
