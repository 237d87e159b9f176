"""Streaming an object out of a store (the OpenAI door's ``/content``): its size up front, its
bytes in chunks, and a missing key refused before anything is sent, on both stores."""

from __future__ import annotations

import pytest

from opendance.services.context import AppContext
from opendance.storage.base import READ_CHUNK_BYTES, ObjectNotFound


async def test_an_object_streams_back_whole_in_bounded_chunks(ctx: AppContext) -> None:
    data = bytes(range(256)) * (READ_CHUNK_BYTES // 256 * 2 + 3)  # two chunks and a bit
    await ctx.store.put_bytes("videos/long.mp4", data, "video/mp4")
    reader = await ctx.store.open_read("videos/long.mp4")
    chunks = [chunk async for chunk in reader.chunks]
    assert reader.size == len(data)
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= READ_CHUNK_BYTES


async def test_a_missing_object_is_refused_when_it_is_opened(ctx: AppContext) -> None:
    with pytest.raises(ObjectNotFound):
        await ctx.store.open_read("videos/never-stored.mp4")


async def test_a_local_key_outside_the_store_is_not_found(ctx: AppContext) -> None:
    with pytest.raises(ObjectNotFound):
        await ctx.store.open_read("../opendance.db")
