"""Listing a store, which the sweep of unreferenced objects stands on: pages of up to 1,000
under one prefix, sizes and times, on the local store and on S3 (moto over HTTP)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from opendance.bootstrap import open_context
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.storage.conftest import stored_keys


async def test_the_listing_pages_through_one_prefix(ctx: AppContext) -> None:
    for i in range(1005):
        await ctx.store.put_bytes(f"posters/p{i:04d}.jpg", b"x" * (i % 7), "image/jpeg")
    await ctx.store.put_bytes("videos/v.mp4", b"v", "video/mp4")
    pages = [page async for page in ctx.store.list_objects("posters/")]
    assert [len(page) for page in pages] == [1000, 5]
    found = [item for page in pages for item in page]
    assert sorted(item.key for item in found) == [f"posters/p{i:04d}.jpg" for i in range(1005)]
    assert {item.size for item in found} == set(range(7))
    now = datetime.now(UTC)
    assert all(abs(item.modified_at - now) < timedelta(minutes=5) for item in found)
    assert await stored_keys(ctx.store, "videos/") == ["videos/v.mp4"]
    assert await stored_keys(ctx.store, "inputs/") == []


async def test_the_local_listing_skips_writes_in_progress(settings: Settings) -> None:
    ctx = await open_context(settings)
    try:
        await ctx.store.put_bytes("videos/a-1.mp4", b"a", "video/mp4")
        (settings.objects_dir / "videos" / ".put-x1y2").write_bytes(b"half")
        (settings.objects_dir / "videos" / ".b-1.mp4.part").write_bytes(b"half")
        old = (datetime.now(UTC) - timedelta(days=1)).timestamp()
        os.utime(settings.objects_dir / "videos" / "a-1.mp4", (old, old))
        [[listed]] = [page async for page in ctx.store.list_objects("videos/")]
        assert listed.key == "videos/a-1.mp4" and listed.modified_at.timestamp() == old
    finally:
        await ctx.close()
