"""Turning the host part of a URL into either an IP address or a DNS name.

An attacker who can make the server read ``http://0x7f.1/`` hopes that the URL check sees a
harmless name while the socket layer sees 127.0.0.1. So IP literals are recognised the way
browsers (the WHATWG URL standard) and ``inet_aton`` read them: decimal, hex and octal parts,
one to four parts, a trailing dot, and any host whose last label is a number is an IPv4 literal
or an error, never a name to look up. IPv6 literals come in brackets; zone ids are refused
because they only make sense for link-local addresses, which are blocked anyway.

Names are lowercased and IDNA-encoded (UTS #46, as browsers do), which also folds full-width
digits and dots into ASCII before the IPv4 check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

import idna

from opendance.net.addresses import IPAddress

_DIGITS = {10: frozenset("0123456789"), 8: frozenset("01234567"), 16: frozenset("0123456789abcdef")}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


class HostError(ValueError):
    """The host part is malformed; the message completes "... has an invalid host: "."""


@dataclass(frozen=True, slots=True)
class Host:
    """A parsed host: ``ip`` is set for an IP literal, else ``name`` is a normalised DNS name."""

    name: str
    ip: IPAddress | None

    @property
    def text(self) -> str:
        """The host as it goes into a URL or a Host header (IPv6 in brackets)."""
        if isinstance(self.ip, IPv6Address):
            return f"[{self.ip}]"
        return self.name


def parse_host(raw: str) -> Host:
    """Parse the host of an authority (already stripped of userinfo and port)."""
    if raw.startswith("["):
        ipv6 = _parse_ipv6_literal(raw)
        return Host(str(ipv6), ipv6)
    if not raw:
        raise HostError("the host is empty")
    if "%" in raw:
        raise HostError("percent-encoded hosts are not accepted")
    name = _to_ascii(raw)
    if _ends_in_number(name):
        ip = _parse_ipv4(name)
        return Host(str(ip), ip)
    return Host(_validate_name(name), None)


def _parse_ipv6_literal(raw: str) -> IPv6Address:
    if not raw.endswith("]"):
        raise HostError("an IPv6 address must be enclosed in [ ]")
    inner = raw[1:-1]
    if "%" in inner:
        raise HostError("IPv6 zone identifiers are not accepted")
    try:
        return IPv6Address(inner)
    except ValueError:
        raise HostError(f"[{inner}] is not a valid IPv6 address") from None


def _to_ascii(raw: str) -> str:
    if raw.isascii():
        return raw.lower()
    try:
        return idna.encode(raw, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise HostError("it is not a valid internationalised domain name") from None


def _labels(name: str) -> list[str]:
    """Labels of a name, ignoring one trailing dot (``example.com.`` is ``example.com``)."""
    labels = name.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    return labels


def _parse_ipv4_number(part: str) -> int | None:
    """One dotted part as ``inet_aton`` reads it: ``0x`` hex, leading-zero octal, or decimal."""
    if not part:
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    if not set(part.lower()) <= _DIGITS[radix]:
        return None
    return int(part, radix)


def _ends_in_number(name: str) -> bool:
    """WHATWG "ends in a number": such a host must be an IPv4 address or is invalid."""
    last = _labels(name)[-1]
    if last and set(last) <= _DIGITS[10]:
        return True
    return last[:2] in ("0x", "0X") and _parse_ipv4_number(last) is not None


def _parse_ipv4(name: str) -> IPv4Address:
    parts = _labels(name)
    numbers = [_parse_ipv4_number(part) for part in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise HostError(f"{name} looks like an IPv4 address but is not a valid one")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise HostError(f"{name} looks like an IPv4 address but a part is out of range")
    address = values[-1]
    for index, n in enumerate(values[:-1]):
        address += n * 256 ** (3 - index)
    return IPv4Address(address)


def _validate_name(name: str) -> str:
    labels = _labels(name)
    normalised = ".".join(labels)
    if len(normalised) > 253:
        raise HostError("the host name is longer than 253 characters")
    for label in labels:
        if not label:
            raise HostError("the host name has an empty label")
        if len(label) > 63:
            raise HostError("a label of the host name is longer than 63 characters")
        if not set(label) <= _NAME_CHARS:
            raise HostError("the host name contains characters not allowed in host names")
    return normalised
