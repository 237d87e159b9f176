"""Reads that wait for a connection go out together: one statement and one round trip for all
the questions asked meanwhile.

A status poll spends most of its database time on the round trip, not on the lookup: waking
the server's backend, the statement's messages, the answer's. Under load many polls are in
flight at once, and sending each on its own multiplies that cost. Here a question joins the
batch that has not been sent yet; the batch leaves as soon as a connection is free, carrying
everything that arrived until then. With a free connection a lone question leaves on the next
turn of the event loop, so a quiet server answers as fast as before.

Every answer is read after its question was asked (a batch is only sent once it holds its
questions), so nothing is served from before a request arrived: a key revoked before the
request is refused, as with a statement of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg

Q = TypeVar("Q")
A = TypeVar("A")

SendBatch = Callable[[asyncpg.Connection, list[Q]], Awaitable[list[A]]]


class ReadBatcher(Generic[Q, A]):
    """Batches the questions of one event loop onto the connections of ``pool``; ``send``
    answers a list of questions in order, on one connection."""

    def __init__(self, pool: asyncpg.Pool, send: SendBatch[Q, A]) -> None:
        self.pool = pool
        self._send = send
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        self._sender: asyncio.Task[None] | None = None  # the one that will take _waiting
        self._in_flight: set[asyncio.Task[None]] = set()  # strong references

    async def ask(self, question: Q) -> A:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[A] = loop.create_future()
        self._waiting.append((question, answer))
        if self._sender is None:
            self._sender = sender = loop.create_task(self._send_next())
            self._in_flight.add(sender)
            sender.add_done_callback(self._in_flight.discard)
        return await answer

    async def _send_next(self) -> None:
        batch: list[tuple[Q, asyncio.Future[A]]] = []
        try:
            async with self.pool.acquire() as conn:
                # from here on, new questions start the next batch
                batch, self._waiting, self._sender = self._waiting, [], None
                asked = [(question, answer) for question, answer in batch if not answer.done()]
                if asked:
                    answers = await self._send(conn, [question for question, _ in asked])
                    for (_question, answer), found in zip(asked, answers, strict=True):
                        if not answer.done():  # its request may have been cancelled meanwhile
                            answer.set_result(found)
        except BaseException as exc:
            if self._sender is asyncio.current_task():
                batch, self._waiting, self._sender = self._waiting, [], None
            for _question, answer in batch:
                if answer.done():
                    pass
                elif isinstance(exc, Exception):
                    answer.set_exception(exc)
                else:
                    answer.cancel()
            if not isinstance(exc, Exception):
                raise

    def cancel(self) -> None:
        """Stop every batch (closing): their questions are cancelled."""
        for sender in list(self._in_flight):
            sender.cancel()
