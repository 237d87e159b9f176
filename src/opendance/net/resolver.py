"""Name resolution as a seam: the system resolver in production, a fixed table in tests.

The fetch layer resolves a name once, checks every address, and connects to a checked address
itself; nothing downstream resolves the name again, so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot slip a private address through.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping
from typing import Protocol

from opendance.net.addresses import IPAddress, parse_ip
from opendance.net.errors import NameResolutionError


class Resolver(Protocol):
    """Resolves a host name (never an IP literal) to its addresses.

    Raises ``NameResolutionError`` when the name has no address; never returns an empty list.
    """

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """``getaddrinfo`` through the event loop, bounded by a timeout.

    The lookup runs in a worker thread that cannot be interrupted; on timeout we stop waiting
    for it, which is what matters for the request deadline.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                infos = await loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
        except TimeoutError:
            raise NameResolutionError(
                host, f"DNS lookup timed out after {self.timeout:g} s"
            ) from None
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(host, _gai_detail(exc)) from None
        addresses: list[IPAddress] = []
        for family, _type, _proto, _canonname, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = parse_ip(str(sockaddr[0]))
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise NameResolutionError(host, "no IPv4 or IPv6 address")
        return addresses


# EAI_NODATA ("no address for this name") is not defined on every platform.
_NOT_FOUND = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})


def _gai_detail(exc: Exception) -> str:
    if isinstance(exc, socket.gaierror) and exc.errno in _NOT_FOUND:
        return "name not found"
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    return "invalid name"


class StaticResolver:
    """A fixed name → addresses table; unknown names fail like NXDOMAIN.

    Names match case-insensitively and with or without a trailing dot, as DNS does. Every
    lookup is recorded in ``lookups`` so tests can prove that IP literals never reach DNS.
    """

    def __init__(self, mapping: Mapping[str, Iterable[str | IPAddress]]) -> None:
        self._table: dict[str, list[IPAddress]] = {
            _key(name): [ip if not isinstance(ip, str) else parse_ip(ip) for ip in ips]
            for name, ips in mapping.items()
        }
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        addresses = self._table.get(_key(host))
        if not addresses:
            raise NameResolutionError(host, "name not found")
        return list(addresses)


def _key(name: str) -> str:
    return name.lower().removesuffix(".")
