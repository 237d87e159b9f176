"""Slow clients on real sockets: a body that trickles in is cut off with 408 in the envelope
once its deadline passes, and the connection cap turns away what is over it instead of
letting trickling connections hold the server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.live import LiveServer

BODY = b'{"prompt": "a slow one", "duration": 4, "resolution": "480p"}'


class Trickler:
    """A client that sends its headers at once, then its body one byte every ``gap`` seconds,
    and records the answer and when it came. Never runs longer than ``give_up`` seconds."""

    def __init__(self, port: int, key: str, gap: float = 0.2, give_up: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=give_up)
        self.gap, self.give_up = gap, give_up
        self.answer = b""
        self.closed_by_server = False
        self.seconds = 0.0
        head = (
            "POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        )
        self.sock.sendall(head.encode())
        self.started = time.monotonic()
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._sender.start()

    def _send(self) -> None:
        try:
            for i in range(len(BODY)):
                if time.monotonic() - self.started > self.give_up:
                    return
                self.sock.send(BODY[i : i + 1])
                time.sleep(self.gap)
        except OSError:  # the server closed the connection: what the test wants
            return

    def wait(self) -> Trickler:
        """Read until the server closes the connection (or ``give_up`` passes)."""
        try:
            while chunk := self.sock.recv(65536):
                self.answer += chunk
            self.closed_by_server = True
        except ConnectionResetError:
            # a server that closes with body bytes still unread in its buffer resets the
            # connection (the kernel sends RST): closed by the server all the same
            self.closed_by_server = True
        except OSError:
            pass
        self.seconds = time.monotonic() - self.started
        self.sock.close()
        self._sender.join(2)
        return self

    @property
    def status(self) -> int:
        return int(self.answer.split(b" ", 2)[1]) if self.answer else 0

    @property
    def body(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.answer.split(b"\r\n\r\n", 1)[1])
        return loaded


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, body_timeout_seconds=1.0, limit_concurrency=4)
    live = LiveServer(settings, with_worker=False).start()
    yield live
    live.stop()


def test_a_trickling_body_gets_408_in_the_envelope_and_the_connection_closed(
    strict: LiveServer,
) -> None:
    key = strict.create_account("slow", 100)
    slow = Trickler(strict.settings.port, key).wait()
    assert slow.status == 408, slow.answer
    assert slow.body == {
        "code": 408,
        "message": "the request body was not received within 1 s",
        "error": "REQUEST_TIMEOUT",
        "data": None,
    }
    assert slow.closed_by_server
    assert 0.9 < slow.seconds < 4  # the deadline, not the 12 s the body would take
    # nothing was created or charged
    with strict.client(key) as client:
        assert client.post("/v1/generate", content=BODY).status_code == 200


def test_a_body_within_its_deadline_is_served(strict: LiveServer) -> None:
    key = strict.create_account("steady", 100)
    with strict.client(key) as client:
        chunks = iter([BODY[:10], BODY[10:30], BODY[30:]])

        def slowly() -> Iterator[bytes]:
            for chunk in chunks:
                time.sleep(0.2)
                yield chunk

        response = client.post("/v1/generate", content=slowly())
    assert response.status_code == 200, response.text


def test_connections_over_the_cap_are_turned_away_until_the_slow_ones_are_cut_off(
    strict: LiveServer,
) -> None:
    key = strict.create_account("crowd", 100)
    crowd = [Trickler(strict.settings.port, key) for _ in range(3)]
    time.sleep(0.2)  # all three are in, reading their bodies
    with httpx.Client(base_url=strict.url, timeout=5) as client:
        over = client.get("/healthz")
    assert over.status_code == 503
    for slow in crowd:
        assert slow.wait().status == 408
    with httpx.Client(base_url=strict.url, timeout=5) as client:
        assert client.get("/healthz").status_code == 200
