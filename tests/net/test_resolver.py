"""The resolvers: the static table for tests and the system resolver."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from opendance.net import NameResolutionError, StaticResolver, SystemResolver


async def test_static_resolver_matches_names_like_dns() -> None:
    resolver = StaticResolver({"Images.Example.": ["93.184.216.34", "2606:2800:220:1::1"]})
    expected = [ip_address("93.184.216.34"), ip_address("2606:2800:220:1::1")]
    assert await resolver.resolve("images.example", 443) == expected
    assert await resolver.resolve("IMAGES.EXAMPLE.", 80) == expected
    assert resolver.lookups == ["images.example", "IMAGES.EXAMPLE."]


async def test_static_resolver_fails_like_nxdomain_for_unknown_names() -> None:
    resolver = StaticResolver({"known.test": ["192.0.2.1"], "empty.test": []})
    for name in ("unknown.test", "empty.test"):
        with pytest.raises(NameResolutionError) as caught:
            await resolver.resolve(name, 80)
        assert str(caught.value) == f"host {name} could not be resolved (name not found)"


async def test_system_resolver_resolves_localhost_to_loopback() -> None:
    addresses = await SystemResolver().resolve("localhost", 80)
    assert addresses
    assert all(ip.is_loopback for ip in addresses)
    assert len(addresses) == len(set(addresses))


async def test_system_resolver_reports_an_invalid_name() -> None:
    with pytest.raises(NameResolutionError, match=r"host bad\.\.name could not be resolved"):
        await SystemResolver().resolve("bad..name", 80)
