"""Fixtures for the fetch tests: the public peer, the sinks, and the policy seam.

The test policy is the production block list with exactly 127.0.0.1/32 carved out, so the
loopback ``peer`` stands in for a public server while 127.0.0.2 (the ``sink``) and ::1 (the
``sink6``) stay blocked like any private address.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.net import AddressPolicy, StaticResolver
from tests.net.servers import ConnectionSink, PeerServer, self_signed_certificate

PUBLIC_NAME = "images.test"


@pytest.fixture(scope="session")
def peer() -> Iterator[PeerServer]:
    server = PeerServer("127.0.0.1")
    yield server
    server.close()


def _sink(host: str) -> Iterator[ConnectionSink]:
    try:
        sink = ConnectionSink(host)
    except OSError as exc:  # e.g. no IPv6 on this machine
        pytest.skip(f"cannot listen on {host}: {exc}")
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def sink() -> Iterator[ConnectionSink]:
    """A listener on 127.0.0.2, where hostile URLs try to go; it must never see a connection."""
    yield from _sink("127.0.0.2")


@pytest.fixture(scope="session")
def sink6() -> Iterator[ConnectionSink]:
    """A listener on [::1]; it must never see a connection either."""
    yield from _sink("::1")


@pytest.fixture(scope="session")
def loopback_sink() -> Iterator[ConnectionSink]:
    """A listener on 127.0.0.1 for tests that use the unmodified production policy."""
    yield from _sink("127.0.0.1")


@pytest.fixture
def policy() -> AddressPolicy:
    return AddressPolicy.default(allow=["127.0.0.1/32"])


@pytest.fixture
def resolver() -> StaticResolver:
    return StaticResolver(
        {
            PUBLIC_NAME: ["127.0.0.1"],
            "other-name.test": ["127.0.0.1"],
            "internal.test": ["127.0.0.2"],
            "private.test": ["10.1.2.3"],
            "metadata.test": ["169.254.169.254"],
            "cgnat.test": ["100.64.1.1"],
            "ula.test": ["fd12:3456::1"],
            "loopback6.test": ["::1"],
            "mapped.test": ["::ffff:127.0.0.2"],
            "nat64.test": ["64:ff9b::7f00:2"],
            "zero.test": ["0.0.0.0"],  # noqa: S104 -- a DNS answer under test, not a bind
            # Every address is checked: one good answer does not excuse a bad one.
            "mixed.test": ["127.0.0.1", "127.0.0.2"],
            "mixed-public.test": ["93.184.216.34", "10.0.0.1"],
        }
    )


@pytest.fixture(scope="session")
def tls_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PeerServer, Path]]:
    """An HTTPS peer on 127.0.0.1 whose certificate is valid for images.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    pem = self_signed_certificate(tmp_path_factory.mktemp("tls"), PUBLIC_NAME)
    server = PeerServer("127.0.0.1", certfile=pem)
    yield server, pem
    server.close()
