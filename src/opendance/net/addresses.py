"""Which IP addresses the server may connect to on a user's behalf.

The block list is explicit rather than built on ``ipaddress``'s ``is_private``/``is_global``:
those flags changed between Python versions and have no notion of "the IPv4 address hidden
inside this IPv6 address". Here every blocked range carries the phrase used in the error
message, and the translation prefixes (IPv4-mapped, 6to4, NAT64) are judged by the IPv4 address
they carry, because that is where the packets end up.

Order matters only for messages: a more specific range (the metadata address) comes before the
range containing it (link-local), so the client is told the more useful reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TypeAlias

from opendance.net.errors import AddressRejected

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class BlockedNetwork:
    """One blocked range and how to name it to a client ("a loopback address")."""

    network: IPNetwork
    label: str


def _blocked(label: str, *cidrs: str) -> list[BlockedNetwork]:
    return [BlockedNetwork(ip_network(cidr), label) for cidr in cidrs]


_METADATA = "a cloud metadata address"
_RESERVED_V6 = "a reserved IPv6 address (not global unicast)"

DEFAULT_BLOCKED: tuple[BlockedNetwork, ...] = (
    # IPv4
    *_blocked("an unspecified ('this network') address", "0.0.0.0/8"),
    *_blocked("a loopback address", "127.0.0.0/8"),
    *_blocked("a private address", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    # AWS/GCP/Azure/OpenStack, AWS ECS task metadata, Alibaba Cloud.
    *_blocked(_METADATA, "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32"),
    # Azure's platform address (WireServer: the VM agent's goal state and certificates, the
    # platform DNS and health probes). It is a public address, so only listing it blocks it.
    *_blocked(_METADATA, "168.63.129.16/32"),
    *_blocked("a link-local address", "169.254.0.0/16"),
    *_blocked("a carrier-grade NAT (shared) address", "100.64.0.0/10"),
    *_blocked("an IETF protocol assignment address", "192.0.0.0/24"),
    *_blocked("a documentation address", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
    *_blocked("a benchmarking address", "198.18.0.0/15"),
    *_blocked("a 6to4 relay anycast address", "192.88.99.0/24"),
    *_blocked("a multicast address", "224.0.0.0/4"),
    *_blocked("the broadcast address", "255.255.255.255/32"),
    *_blocked("a reserved address", "240.0.0.0/4"),
    # IPv6 (the IPv4-mapped, NAT64 and 6to4 prefixes are judged by their embedded IPv4 address
    # before this list is consulted; see AddressPolicy.blocked_reason)
    *_blocked("an unspecified address", "::/128"),
    *_blocked("a loopback address", "::1/128"),
    *_blocked("an IPv4-compatible IPv6 address (deprecated)", "::/96"),
    *_blocked("an IPv4-translated IPv6 address", "::ffff:0:0:0/96"),
    *_blocked("a local-use NAT64 address", "64:ff9b:1::/48"),
    *_blocked("a discard-only address", "100::/64"),
    *_blocked("a Teredo address", "2001::/32"),
    *_blocked("a benchmarking address", "2001:2::/48"),
    *_blocked("an ORCHID address", "2001:10::/28", "2001:20::/28"),
    *_blocked("an IETF protocol assignment address", "2001::/23"),
    *_blocked("a documentation address", "2001:db8::/32", "3fff::/20"),
    *_blocked(_METADATA, "fd00:ec2::254/128"),
    *_blocked("a private (unique local) address", "fc00::/7"),
    *_blocked("a link-local address", "fe80::/10"),
    *_blocked("a site-local address (deprecated)", "fec0::/10"),
    *_blocked("a multicast address", "ff00::/8"),
    # Everything outside 2000::/3 is unassigned or special-purpose; nothing public lives there.
    *_blocked(_RESERVED_V6, "::/3", "4000::/2", "8000::/1"),
)

_NAT64 = IPv6Network("64:ff9b::/96")
OPERATOR_LABEL = "a network blocked by the operator"


def operator_blocked(networks: Iterable[IPNetwork]) -> tuple[BlockedNetwork, ...]:
    """The operator's own ranges (``OPENDANCE_BLOCKED_NETWORKS``), as block-list entries."""
    return tuple(BlockedNetwork(net, OPERATOR_LABEL) for net in networks)


def embedded_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 address forwards to, with the name of the mechanism.

    IPv4-mapped addresses reach the IPv4 host directly on a dual-stack socket; NAT64 and 6to4
    addresses are translated by a gateway. Either way the IPv4 address is the real destination.
    """
    if (mapped := ip.ipv4_mapped) is not None:
        return "an IPv4-mapped IPv6 address", mapped
    if ip in _NAT64:
        return "a NAT64 address", IPv4Address(int(ip) & 0xFFFF_FFFF)
    if (sixtofour := ip.sixtofour) is not None:
        return "a 6to4 address", sixtofour
    return None


def connect_address(ip: IPAddress) -> IPAddress:
    """The address to open a socket to: an IPv4-mapped address is dialled as plain IPv4, so the
    connection does not depend on the host having a dual-stack socket."""
    if isinstance(ip, IPv6Address) and (mapped := ip.ipv4_mapped) is not None:
        return mapped
    return ip


class AddressPolicy:
    """Decides whether the server may connect to an address.

    ``allowed`` networks are carved out of the block list: they win over any blocked range.
    Tests use this to treat a loopback server on 127.0.0.1 as a public peer while 127.0.0.2
    stays blocked; an operator could use it to allow one internal host.
    """

    def __init__(
        self,
        blocked: Iterable[BlockedNetwork] = DEFAULT_BLOCKED,
        *,
        allowed: Iterable[str | IPNetwork] = (),
    ) -> None:
        self.blocked: tuple[BlockedNetwork, ...] = tuple(blocked)
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ip_network(net) if isinstance(net, str) else net for net in allowed
        )

    @classmethod
    def default(
        cls, *, allow: Iterable[str | IPNetwork] = (), also_block: Iterable[IPNetwork] = ()
    ) -> AddressPolicy:
        """The production policy: every range in ``DEFAULT_BLOCKED`` is refused, and the
        operator's ``also_block`` ranges (after them: a built-in range names the reason better)."""
        return cls((*DEFAULT_BLOCKED, *operator_blocked(also_block)), allowed=allow)

    @classmethod
    def allow_all_private(cls, *, also_block: Iterable[IPNetwork] = ()) -> AddressPolicy:
        """Allow every address (``OPENDANCE_ALLOW_PRIVATE_URLS=true``, local development only)
        but the operator's own ``also_block`` ranges: those were asked for by name."""
        return cls(operator_blocked(also_block), allowed=())

    @property
    def operator_blocked(self) -> tuple[IPNetwork, ...]:
        return tuple(entry.network for entry in self.blocked if entry.label == OPERATOR_LABEL)

    @property
    def blocks_anything(self) -> bool:
        return bool(self.blocked)

    def blocked_reason(self, ip: IPAddress) -> str | None:
        """What the address is, if it is blocked ("a loopback address (127.0.0.1)"), else None."""
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        if isinstance(ip, IPv6Address) and (embedded := embedded_ipv4(ip)) is not None:
            mechanism, inner = embedded
            inner_reason = self.blocked_reason(inner)
            if inner_reason is None:
                return None
            return f"{mechanism} ({ip}) of {inner_reason}"
        for entry in self.blocked:
            if ip.version == entry.network.version and ip in entry.network:
                return f"{entry.label} ({ip})"
        return None

    def is_allowed(self, ip: IPAddress) -> bool:
        return self.blocked_reason(ip) is None

    def check(self, ip: IPAddress, *, subject: str = "url") -> None:
        """Raise ``UrlRejected`` ("url resolves to a private address (10.0.0.1)") if blocked."""
        reason = self.blocked_reason(ip)
        if reason is not None:
            raise AddressRejected(subject, f"resolves to {reason}")

    def __repr__(self) -> str:
        allowed = ", ".join(str(net) for net in self.allowed)
        return f"AddressPolicy(blocked={len(self.blocked)} ranges, allowed=[{allowed}])"


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDR networks ("10.20.0.0/16, fd00:1::/64"; a bare address is one
    host). Raises ``ValueError`` naming the entry that is wrong and how."""
    if not text.strip():
        return ()
    networks: list[IPNetwork] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError("an empty entry (two commas in a row, or one at the end)")
        try:
            networks.append(ip_network(entry))
        except ValueError:
            try:
                # Host bits set ("10.0.0.1/8"): probably a typo for the network, or an address
                # meant as one host. Guessing either could block the wrong range.
                meant = ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a CIDR network (like 10.20.0.0/16)") from None
            raise ValueError(f"{entry!r} has host bits set (did you mean {meant}?)") from None
    return tuple(networks)


def parse_ip(text: str) -> IPAddress:
    """Parse a canonical IP address text (as a resolver returns it), dropping any zone id."""
    return ip_address(text.split("%", 1)[0])
