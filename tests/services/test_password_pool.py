"""The hashing threads: their own, few, and refusing work at once when full."""

from __future__ import annotations

import asyncio
import threading

import pytest

from opendance.services.password_pool import THREAD_PREFIX, PasswordPool, PasswordsBusy


async def test_a_full_pool_refuses_at_once_and_frees_its_slots_as_hashes_end() -> None:
    pool = PasswordPool(threads=1, waiting=1)
    gate = threading.Event()

    def slow() -> str:
        gate.wait(10)
        return threading.current_thread().name

    try:
        running = [asyncio.ensure_future(pool.run(slow)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(PasswordsBusy):
            await pool.run(slow)
        # a caller that gives up does not give back the slot: its hash still holds the thread
        running[1].cancel()
        with pytest.raises(PasswordsBusy):
            await pool.run(slow)
        gate.set()
        assert (await running[0]).startswith(THREAD_PREFIX)
        for _ in range(100):
            try:
                assert (await pool.run(slow)).startswith(THREAD_PREFIX)
                break
            except PasswordsBusy:
                await asyncio.sleep(0.01)
        else:
            raise AssertionError("the slots were never given back")
    finally:
        gate.set()
        pool.close()
