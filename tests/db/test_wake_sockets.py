"""The SQLite wake channel: datagram sockets in a directory next to the database file."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opendance.bootstrap import open_context
from opendance.db.database import SQLITE_POOL_SIZE
from opendance.db.wake_sockets import WakeReceiver, WakeSender, channel_dir
from opendance.db.wakeups import notify_queued
from opendance.domain.capabilities import SERVES_EVERYTHING
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.support.factories import account_with_key, submit

pytestmark = pytest.mark.only_on("sqlite")


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.event.set()

    async def wait(self, seconds: float = 5) -> None:
        await asyncio.wait_for(self.event.wait(), seconds)


def test_the_channel_lives_next_to_a_sqlite_file_only(tmp_path: Path) -> None:
    db_file = tmp_path / "opendance.db"
    assert channel_dir(f"sqlite+aiosqlite:///{db_file}") == tmp_path / "opendance.db-wake"
    assert channel_dir("sqlite+aiosqlite://") is None
    assert channel_dir("sqlite+aiosqlite:///:memory:") is None
    assert channel_dir("postgresql+asyncpg://postgres@127.0.0.1/opendance") is None


async def test_one_send_wakes_every_worker_socket(tmp_path: Path) -> None:
    directory = tmp_path / "opendance.db-wake"
    first, second = Counter(), Counter()
    receivers = [WakeReceiver(directory, first), WakeReceiver(directory, second)]
    for receiver in receivers:
        receiver.open()
    try:
        assert all(receiver.joined for receiver in receivers)
        assert WakeSender(directory).send() == 2
        await first.wait()
        await second.wait()
    finally:
        for receiver in receivers:
            receiver.close()
    assert list(directory.iterdir()) == []  # a receiver that closes leaves the directory


async def test_a_burst_of_wakes_is_one_wake_up(tmp_path: Path) -> None:
    directory = tmp_path / "opendance.db-wake"
    woken = Counter()
    receiver = WakeReceiver(directory, woken)
    receiver.open()
    try:
        sender = WakeSender(directory)
        for _ in range(20):
            sender.send()
        await woken.wait()
        await asyncio.sleep(0.1)
        assert woken.calls == 1
    finally:
        receiver.close()


def test_sending_without_a_channel_does_nothing(tmp_path: Path) -> None:
    assert WakeSender(tmp_path / "missing").send() == 0
    (tmp_path / "empty").mkdir()
    assert WakeSender(tmp_path / "empty").send() == 0
    (tmp_path / "a-file").write_text("not a directory")
    assert WakeSender(tmp_path / "a-file").send() == 0


def test_a_dead_workers_socket_is_removed_by_the_next_send(tmp_path: Path) -> None:
    directory = tmp_path / "opendance.db-wake"
    directory.mkdir()
    dead = directory / "4242-deadbeef.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(dead))
    sock.close()  # as after kill -9: the file stays, nobody reads it
    assert dead.exists()
    assert WakeSender(directory).send() == 0
    assert not dead.exists()


def test_a_worker_that_reads_nothing_never_blocks_a_sender(tmp_path: Path) -> None:
    directory = tmp_path / "opendance.db-wake"
    directory.mkdir()
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(str(directory / "4243-cafe.sock"))
    try:
        sender = WakeSender(directory)
        taken = [sender.send() for _ in range(5000)]
        assert taken[0] == 1
        assert taken[-1] == 0  # its buffer is full: a wake-up is pending there anyway
        assert (directory / "4243-cafe.sock").exists()  # full is not dead
    finally:
        deaf.close()


async def test_a_file_name_that_is_not_utf8_never_fails_a_send(tmp_path: Path) -> None:
    """A send runs after the submit committed: raising there would report a charged task
    as failed."""
    directory = tmp_path / "opendance.db-wake"
    woken = Counter()
    receiver = WakeReceiver(directory, woken)
    receiver.open()
    odd = os.path.join(os.fsencode(directory), b"\xff-odd.sock")
    os.close(os.open(odd, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        assert WakeSender(directory).send() == 1
        await woken.wait()
    finally:
        receiver.close()


def test_a_send_removes_dead_sockets_only_never_other_files(tmp_path: Path) -> None:
    directory = tmp_path / "opendance.db-wake"
    directory.mkdir()
    not_ours = directory / "notes.sock"
    not_ours.write_text("a regular file that happens to end in .sock")
    elsewhere = tmp_path / "elsewhere.sock"
    elsewhere.write_text("reached through a link")
    (directory / "link.sock").symlink_to(elsewhere)
    assert WakeSender(directory).send() == 0
    assert not_ours.read_text().startswith("a regular file")
    assert (directory / "link.sock").is_symlink() and elsewhere.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="long socket paths go through /proc")
async def test_a_channel_deeper_than_a_socket_address_can_name(tmp_path: Path) -> None:
    parent = tmp_path / ("d" * 80) / ("e" * 40)
    parent.mkdir(parents=True)
    directory = parent / "opendance.db-wake"
    woken = Counter()
    receiver = WakeReceiver(directory, woken)
    receiver.open()
    try:
        assert len(str(receiver.path)) > 108
        assert WakeSender(directory).send() == 1
        await woken.wait()
    finally:
        receiver.close()
    assert list(directory.iterdir()) == []


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


class _Rollback(Exception):
    pass


async def _queue_then_roll_back(ctx: AppContext) -> None:
    async with ctx.db.write() as conn:
        await notify_queued(conn)
        raise _Rollback


async def test_a_wake_is_sent_when_the_transaction_commits_only(ctx: AppContext) -> None:
    directory = channel_dir(ctx.db.url)
    assert directory is not None
    woken = Counter()
    receiver = WakeReceiver(directory, woken)
    receiver.open()
    try:
        with pytest.raises(_Rollback):
            await _queue_then_roll_back(ctx)
        for _ in range(SQLITE_POOL_SIZE):
            # whichever pooled connection rolled back: its mark must not carry over
            async with ctx.db.write():
                pass
        await asyncio.sleep(0.3)
        assert woken.calls == 0
        owner = await account_with_key(ctx, "wakeful")
        assert woken.calls == 0
        await submit(ctx, owner)
        await woken.wait()
    finally:
        receiver.close()


async def test_a_task_handed_back_wakes_the_workers_too(ctx: AppContext) -> None:
    owner = await account_with_key(ctx, "returning")
    await submit(ctx, owner)
    claimed = await tasks.claim(
        ctx, worker_id="w", capabilities=SERVES_EVERYTHING, engine="preview", model=None
    )
    assert claimed is not None
    directory = channel_dir(ctx.db.url)
    assert directory is not None
    woken = Counter()
    receiver = WakeReceiver(directory, woken)
    receiver.open()
    try:
        assert await tasks.hand_back(ctx, claimed.lease)
        await woken.wait()
    finally:
        receiver.close()
