"""The wake channel of a SQLite queue: one Unix datagram socket per worker, in a directory next
to the database file (``opendance.db-wake/``, beside SQLite's own ``-wal`` and ``-shm``).

Whoever commits a queued task sends one empty datagram to every socket in the directory; a
worker's socket wakes its poll wait. The directory is the whole membership: a worker joins by
binding a socket there and leaves by unlinking it, so the API process(es), the workers that
``opendance serve`` supervises and a worker started by hand on the same file all find each other
with no service in between, and nothing needs to be passed around. Everything about it is best
effort: a sender never blocks (a full socket buffer means that worker has a wake-up pending
already) and never raises, and a worker that misses a datagram finds the task at its next poll.

A socket whose worker died without unlinking it (kill -9) refuses datagrams; the sender that
notices removes it. Socket paths are limited to about 100 bytes; a longer one is reached
through the directory's ``/proc/self/fd`` entry on Linux (elsewhere such a worker polls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

DIR_SUFFIX = "-wake"
SOCKET_SUFFIX = ".sock"
# sun_path holds 108 bytes on Linux, 104 on macOS, with the terminating NUL
MAX_SOCKET_PATH = 100
DRAIN_AT_MOST = 256  # datagrams read per wake-up: a burst of submits is one wake-up

log = logging.getLogger("opendance.worker")


def channel_dir(database_url: str) -> Path | None:
    """The wake directory of a SQLite database file; None for other databases and in-memory
    SQLite (no other process can share it)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    path = Path(database).resolve()
    return path.with_name(path.name + DIR_SUFFIX)


def _address(directory: Path, name: str, dir_fd: int) -> str:
    full = os.path.join(directory, name)
    # fsencode: a name that is not UTF-8 comes back from listdir with surrogate escapes
    if len(os.fsencode(full)) <= MAX_SOCKET_PATH or not os.path.isdir("/proc/self/fd"):
        return full
    return f"/proc/self/fd/{dir_fd}/{name}"


class WakeSender:
    """Sends a wake-up to every worker socket of one channel directory; never raises."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._socket: socket.socket | None = None

    def send(self) -> int:
        """Wake every worker of the channel; returns how many sockets took the datagram."""
        try:
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return 0  # no channel (no worker has joined yet, or not on this filesystem)
        try:
            names = [n for n in os.listdir(dir_fd) if n.endswith(SOCKET_SUFFIX)]
            if not names:
                return 0
            sender = self._sender()
            return sum(self._send_one(sender, name, dir_fd) for name in names)
        except Exception as exc:  # it runs after a commit: a failure here must not fail that
            log.debug("cannot send wake-ups through %s: %s", self.directory, exc)
            return 0
        finally:
            os.close(dir_fd)

    def _send_one(self, sender: socket.socket, name: str, dir_fd: int) -> bool:
        try:
            # only sockets, not through links: what else is in the directory is not ours, to
            # write to or to remove (a file refuses a datagram as a dead socket does)
            if not stat.S_ISSOCK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                return False
        except OSError:
            return False  # gone meanwhile
        try:
            sender.sendto(b"", _address(self.directory, name, dir_fd))
        except BlockingIOError:
            return False  # its buffer is full of wake-ups it has not read yet: it is awake
        except ConnectionRefusedError:
            # nobody reads it any more: a worker that died without leaving
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
            return False
        except OSError:
            return False  # gone meanwhile, or a path this platform cannot address
        return True

    def _sender(self) -> socket.socket:
        if self._socket is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._socket = sock
        return self._socket

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()


class WakeReceiver:
    """One worker's socket in a channel directory: ``on_wake`` runs (on the event loop) when
    datagrams arrive, once per batch."""

    def __init__(self, directory: Path, on_wake: Callable[[], None]) -> None:
        self.directory = directory
        self.on_wake = on_wake
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(6)}{SOCKET_SUFFIX}"
        self._socket: socket.socket | None = None
        self._inode: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def joined(self) -> bool:
        """Bound, and its socket file is still the one in the directory (an operator may
        have removed the directory; then senders cannot reach this socket any more)."""
        if self._socket is None:
            return False
        try:
            return os.stat(self.path).st_ino == self._inode
        except OSError:
            return False

    def open(self) -> None:
        """Bind this worker's socket in the directory (created if missing); raises OSError."""
        self.close()
        self.directory.mkdir(mode=0o700, parents=False, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.bind(_address(self.directory, self.path.name, dir_fd))
            finally:
                os.close(dir_fd)
            self._inode = os.stat(self.path).st_ino
            loop = asyncio.get_running_loop()
            loop.add_reader(sock.fileno(), self._drain)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        self._socket, self._loop = sock, loop

    def _drain(self) -> None:
        sock = self._socket
        if sock is None:
            return
        for _ in range(DRAIN_AT_MOST):
            try:
                sock.recv(16)
            except OSError:  # BlockingIOError: all read
                break
        self.on_wake()

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()
        self._unlink()

    def _unlink(self) -> None:
        # only our own socket file: the path may name a newer one by now
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
