"""AddressPolicy: the block list, the embedded-IPv4 rules, and the carve-out seam."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from opendance.net import DEFAULT_BLOCKED, AddressPolicy, UrlRejected
from opendance.net.addresses import connect_address, embedded_ipv4


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("0.0.0.0", "an unspecified ('this network') address"),  # noqa: S104 -- not a bind
        ("0.1.2.3", "an unspecified ('this network') address"),
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("169.254.0.1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT (shared) address"),
        ("100.127.255.255", "a carrier-grade NAT (shared) address"),
        ("192.0.0.8", "an IETF protocol assignment address"),
        ("192.0.2.1", "a documentation address"),
        ("198.51.100.1", "a documentation address"),
        ("203.0.113.1", "a documentation address"),
        ("198.18.0.1", "a benchmarking address"),
        ("198.19.255.255", "a benchmarking address"),
        ("192.88.99.1", "a 6to4 relay anycast address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("255.255.255.255", "the broadcast address"),
        ("240.0.0.1", "a reserved address"),
        ("::", "an unspecified address"),
        ("::1", "a loopback address"),
        ("::7f00:1", "an IPv4-compatible IPv6 address (deprecated)"),
        ("::ffff:0:a00:1", "an IPv4-translated IPv6 address"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
        ("100::1", "a discard-only address"),
        ("2001::1", "a Teredo address"),
        ("2001:2::1", "a benchmarking address"),
        ("2001:10::1", "an ORCHID address"),
        ("2001:db8::1", "a documentation address"),
        ("3fff::1", "a documentation address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fc00::1", "a private (unique local) address"),
        ("fd12:3456::1", "a private (unique local) address"),
        ("fe80::1", "a link-local address"),
        ("fec0::1", "a site-local address (deprecated)"),
        ("ff02::1", "a multicast address"),
        ("5f00::1", "a reserved IPv6 address (not global unicast)"),
        ("8000::1", "a reserved IPv6 address (not global unicast)"),
    ],
)
def test_default_policy_blocks_and_names_special_addresses(address: str, label: str) -> None:
    assert AddressPolicy.default().blocked_reason(ip_address(address)) == f"{label} ({address})"


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "169.255.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_default_policy_allows_public_addresses(address: str) -> None:
    assert AddressPolicy.default().is_allowed(ip_address(address))


@pytest.mark.parametrize(
    ("address", "mechanism", "inner"),
    [
        ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address", "a loopback address (127.0.0.1)"),
        ("::ffff:10.0.0.1", "an IPv4-mapped IPv6 address", "a private address (10.0.0.1)"),
        ("2002:a9fe:a9fe::", "a 6to4 address", "a cloud metadata address (169.254.169.254)"),
        ("64:ff9b::c0a8:101", "a NAT64 address", "a private address (192.168.1.1)"),
    ],
)
def test_embedded_ipv4_addresses_are_judged_by_where_they_lead(
    address: str, mechanism: str, inner: str
) -> None:
    ip = IPv6Address(address)
    assert AddressPolicy.default().blocked_reason(ip) == f"{mechanism} ({ip}) of {inner}"


def test_embedded_ipv4_extracts_the_destination() -> None:
    assert embedded_ipv4(IPv6Address("::ffff:1.2.3.4")) == (
        "an IPv4-mapped IPv6 address",
        IPv4Address("1.2.3.4"),
    )
    assert embedded_ipv4(IPv6Address("64:ff9b::102:304")) == (
        "a NAT64 address",
        IPv4Address("1.2.3.4"),
    )
    assert embedded_ipv4(IPv6Address("2002:102:304::1")) == (
        "a 6to4 address",
        IPv4Address("1.2.3.4"),
    )
    assert embedded_ipv4(IPv6Address("2606:4700::1")) is None


def test_mapped_addresses_are_dialled_as_ipv4() -> None:
    assert connect_address(IPv6Address("::ffff:1.2.3.4")) == IPv4Address("1.2.3.4")
    assert connect_address(IPv6Address("2606:4700::1")) == IPv6Address("2606:4700::1")
    assert connect_address(IPv4Address("1.2.3.4")) == IPv4Address("1.2.3.4")


def test_carve_out_allows_exactly_the_listed_network() -> None:
    policy = AddressPolicy.default(allow=["127.0.0.1/32"])
    assert policy.is_allowed(ip_address("127.0.0.1"))
    assert policy.is_allowed(ip_address("::ffff:127.0.0.1"))  # the same destination
    assert not policy.is_allowed(ip_address("127.0.0.2"))
    assert not policy.is_allowed(ip_address("::ffff:127.0.0.2"))
    assert not policy.is_allowed(ip_address("::1"))
    assert not policy.is_allowed(ip_address("10.0.0.1"))


def test_allow_all_private_allows_everything() -> None:
    policy = AddressPolicy.allow_all_private()
    assert not policy.blocks_anything
    special = [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
    ]
    for address in [*special, "0.0.0.0", "224.0.0.1"]:  # noqa: S104 -- not a bind
        assert policy.is_allowed(ip_address(address)), address


def test_check_raises_url_rejected_with_subject_and_reason() -> None:
    with pytest.raises(UrlRejected) as caught:
        AddressPolicy.default().check(ip_address("10.0.0.1"), subject="callback_url")
    assert str(caught.value) == "callback_url resolves to a private address (10.0.0.1)"
    assert caught.value.subject == "callback_url"
    assert caught.value.reason == "resolves to a private address (10.0.0.1)"
    AddressPolicy.default().check(ip_address("8.8.8.8"))


def _sample_addresses(rng: random.Random) -> list[IPv4Address | IPv6Address]:
    """Random addresses, weighted towards the edges and insides of every special range."""
    sample: list[IPv4Address | IPv6Address] = []
    for entry in DEFAULT_BLOCKED:
        net = entry.network
        first, last = int(net.network_address), int(net.broadcast_address)
        top = 2**net.max_prefixlen - 1
        for value in (first, last, first - 1, last + 1, rng.randint(first, last)):
            if 0 <= value <= top:
                sample.append(ip_address(value) if net.version == 4 else IPv6Address(value))
    sample += [IPv4Address(rng.getrandbits(32)) for _ in range(5000)]
    sample += [IPv6Address(rng.getrandbits(128)) for _ in range(2000)]
    sample += [IPv6Address((0x2 << 125) | rng.getrandbits(125)) for _ in range(2000)]
    return sample


def test_everything_python_calls_non_global_is_blocked() -> None:
    """A cross-check against ``ipaddress``: our list must be at least as strict as its
    ``is_global``, except for the embedded forms we deliberately judge by their IPv4 address."""
    policy = AddressPolicy.default()
    for ip in _sample_addresses(random.Random(20260207)):
        if isinstance(ip, IPv6Address) and embedded_ipv4(ip) is not None:
            continue
        if not ip.is_global:
            assert not policy.is_allowed(ip), ip


def test_multicast_is_blocked_even_though_python_calls_it_global() -> None:
    assert ip_address("224.0.0.251").is_global
    assert not AddressPolicy.default().is_allowed(ip_address("224.0.0.251"))
