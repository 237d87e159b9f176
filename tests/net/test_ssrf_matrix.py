"""The SSRF matrix: hostile URLs must be refused, and no connection may ever reach the sinks.

Every URL below aims at 127.0.0.2 (the ``sink``), [::1] (the ``sink6``) or a private, link-local
or special address, in every spelling we know of. Each one is tried three ways: at submit time
(``check_public_url``), as an image fetch, and as the target of a redirect from the public
peer. After each attempt the sinks must report zero connections.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from opendance.net import (
    AddressPolicy,
    FetchFailed,
    StaticResolver,
    SystemResolver,
    UrlRejected,
    check_public_url,
    fetch_image_bytes,
)
from tests.net.servers import ConnectionSink, PeerServer


def _fullwidth(text: str) -> str:
    """The full-width form of ASCII text (U+FF01 onwards), which IDNA folds back to ASCII."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


# {S}: the sink's port on 127.0.0.2; {S6}: the IPv6 sink's port on ::1.
HOSTILE_URLS: list[tuple[str, str]] = [
    ("dotted", "http://127.0.0.2:{S}/"),
    ("decimal", "http://2130706434:{S}/"),
    ("hex", "http://0x7f000002:{S}/"),
    ("hex-upper", "http://0X7F000002:{S}/"),
    ("hex-dotted", "http://0x7f.0.0.2:{S}/"),
    ("hex-every-part", "http://0x7F.0x00.0x00.0x02:{S}/"),
    ("octal", "http://0177.0.0.2:{S}/"),
    ("octal-padded", "http://0177.0000.0000.0002:{S}/"),
    ("octal-whole", "http://017700000002:{S}/"),
    ("short-two-parts", "http://127.2:{S}/"),
    ("short-three-parts", "http://127.0.2:{S}/"),
    ("mixed-radix-short", "http://0x7f.2:{S}/"),
    ("trailing-dot", "http://127.0.0.2.:{S}/"),
    ("hex-trailing-dot", "http://0x7f000002.:{S}/"),
    ("fullwidth-digits", "http://" + _fullwidth("127.0.0.2") + ":{S}/"),
    ("uppercase-scheme", "HTTP://127.0.0.2:{S}/"),
    ("https", "https://127.0.0.2:{S}/"),
    ("ipv6-loopback", "http://[::1]:{S6}/"),
    ("ipv6-loopback-long", "http://[0:0:0:0:0:0:0:1]:{S6}/"),
    ("ipv6-loopback-padded", "http://[0000:0000:0000:0000:0000:0000:0000:0001]:{S6}/"),
    ("ipv4-mapped-dotted", "http://[::ffff:127.0.0.2]:{S}/"),
    ("ipv4-mapped-hex", "http://[::ffff:7f00:2]:{S}/"),
    ("ipv4-mapped-long", "http://[0:0:0:0:0:ffff:127.0.0.2]:{S}/"),
    ("ipv4-mapped-uppercase", "http://[::FFFF:7F00:0002]:{S}/"),
    ("ipv4-compatible", "http://[::127.0.0.2]:{S}/"),
    ("6to4-loopback", "http://[2002:7f00:2::]:{S}/"),
    ("nat64-loopback", "http://[64:ff9b::127.0.0.2]:{S}/"),
    ("zone-id", "http://[::1%25lo]:{S6}/"),
    ("zone-id-link-local", "http://[fe80::1%25eth0]/"),
    ("userinfo-at-private", "http://images.test@127.0.0.2:{S}/"),
    ("userinfo-with-port", "http://images.test:80@127.0.0.2:{S}/"),
    ("userinfo-hiding-host", "http://127.0.0.2:{S}@images.test/"),
    ("userinfo-encoded-at", "http://images.test%40127.0.0.2:{S}/"),
    ("backslash-authority", "http://127.0.0.2:{S}\\@images.test/"),
    ("backslash-path", "http://images.test\\@127.0.0.2:{S}/"),
    ("leading-space", " http://127.0.0.2:{S}/"),
    ("tab-in-host", "http://127.0.0.2\t:{S}/"),
    ("percent-encoded-host", "http://127.0.0.%32:{S}/"),
    ("single-slash", "http:/127.0.0.2:{S}/"),
    ("private-10", "http://10.0.0.1/"),
    ("private-172", "http://172.16.5.4/"),
    ("private-192", "http://192.168.1.1/"),
    ("private-decimal", "http://167772161/"),
    ("link-local", "http://169.254.1.1/"),
    ("metadata", "http://169.254.169.254/latest/meta-data/"),
    ("metadata-decimal", "http://2852039166/latest/meta-data/"),
    ("metadata-hex", "http://0xa9fea9fe/"),
    ("metadata-ecs", "http://169.254.170.2/v2/credentials"),
    ("metadata-alibaba", "http://100.100.100.200/latest/meta-data/"),
    ("metadata-ipv6", "http://[fd00:ec2::254]/latest/meta-data/"),
    ("metadata-mapped", "http://[::ffff:169.254.169.254]/"),
    ("cgnat", "http://100.64.0.1/"),
    ("unspecified", "http://0.0.0.0:{S}/"),
    ("unspecified-short", "http://0:{S}/"),
    ("ipv6-unspecified", "http://[::]:{S6}/"),
    ("multicast", "http://224.0.0.1/"),
    ("broadcast", "http://255.255.255.255/"),
    ("reserved", "http://240.0.0.1/"),
    ("benchmarking", "http://198.18.0.1/"),
    ("documentation", "http://192.0.2.1/"),
    ("ietf-protocol", "http://192.0.0.170/"),
    ("ipv6-unique-local", "http://[fc00::1]/"),
    ("ipv6-link-local", "http://[fe80::1]/"),
    ("ipv6-site-local", "http://[fec0::1]/"),
    ("ipv6-multicast", "http://[ff02::1]/"),
    ("ipv6-discard", "http://[100::1]/"),
    ("teredo", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"),
    ("nat64-private", "http://[64:ff9b::10.0.0.1]/"),
    ("6to4-private", "http://[2002:c0a8:101::]/"),
    ("name-to-loopback", "http://internal.test:{S}/"),
    ("name-to-loopback-uppercase-dot", "http://INTERNAL.test.:{S}/"),
    ("name-to-private", "http://private.test/"),
    ("name-to-metadata", "http://metadata.test/latest/meta-data/"),
    ("name-to-cgnat", "http://cgnat.test/"),
    ("name-to-unique-local", "http://ula.test/"),
    ("name-to-ipv6-loopback", "http://loopback6.test:{S6}/"),
    ("name-to-mapped-loopback", "http://mapped.test:{S}/"),
    ("name-to-nat64-loopback", "http://nat64.test:{S}/"),
    ("name-to-unspecified", "http://zero.test:{S}/"),
    ("name-public-and-private", "http://mixed.test:{S}/"),
    ("name-public-and-private-2", "http://mixed-public.test/"),
    ("name-not-found", "http://nxdomain.test/"),
    ("scheme-ftp", "ftp://127.0.0.2:{S}/"),
    ("scheme-file", "file:///etc/passwd"),
    ("scheme-gopher", "gopher://127.0.0.2:{S}/_GET%20/"),
    ("scheme-dict", "dict://127.0.0.2:{S}/info"),
    ("scheme-javascript", "javascript:alert(1)"),
    ("scheme-relative", "//127.0.0.2:{S}/"),
    ("bad-port", "http://127.0.0.2:99999/"),
]

# Hostile redirect targets must go into a Location header: no whitespace or control characters.
REDIRECT_TARGETS = [
    case for case in HOSTILE_URLS if case[1].strip() == case[1] and "\t" not in case[1]
]


def _url(template: str, sink: ConnectionSink, sink6: ConnectionSink) -> str:
    return template.replace("{S}", str(sink.port)).replace("{S6}", str(sink6.port))


def test_the_matrix_is_large_enough() -> None:
    assert len(HOSTILE_URLS) >= 40
    assert len({name for name, _ in HOSTILE_URLS}) == len(HOSTILE_URLS)


@pytest.mark.parametrize(("name", "template"), HOSTILE_URLS, ids=[n for n, _ in HOSTILE_URLS])
async def test_check_public_url_rejects_hostile_url(
    name: str,
    template: str,
    policy: AddressPolicy,
    resolver: StaticResolver,
    sink: ConnectionSink,
    sink6: ConnectionSink,
) -> None:
    with pytest.raises(UrlRejected) as caught:
        await check_public_url(
            _url(template, sink, sink6), policy=policy, resolver=resolver, subject="callback_url"
        )
    assert str(caught.value).startswith("callback_url ")
    assert sink.connections() == 0
    assert sink6.connections() == 0


@pytest.mark.parametrize(("name", "template"), HOSTILE_URLS, ids=[n for n, _ in HOSTILE_URLS])
async def test_image_fetch_never_connects_to_hostile_url(
    name: str,
    template: str,
    policy: AddressPolicy,
    resolver: StaticResolver,
    sink: ConnectionSink,
    sink6: ConnectionSink,
) -> None:
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes(
            _url(template, sink, sink6), policy=policy, resolver=resolver, timeout=2
        )
    assert str(caught.value).startswith("image_urls[0] ")
    assert sink.connections() == 0
    assert sink6.connections() == 0


@pytest.mark.parametrize(
    ("name", "template"), REDIRECT_TARGETS, ids=[n for n, _ in REDIRECT_TARGETS]
)
async def test_image_fetch_never_follows_a_redirect_to_hostile_url(
    name: str,
    template: str,
    peer: PeerServer,
    policy: AddressPolicy,
    resolver: StaticResolver,
    sink: ConnectionSink,
    sink6: ConnectionSink,
) -> None:
    start = peer.url("/redirect?code=302&to=" + quote(_url(template, sink, sink6), safe=""))
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes(start, policy=policy, resolver=resolver, timeout=2)
    assert "could not be fetched" in str(caught.value)
    assert sink.connections() == 0
    assert sink6.connections() == 0


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("http://2130706434:{S}/", "a loopback address (127.0.0.2)"),
        ("http://0x7f.2:{S}/", "a loopback address (127.0.0.2)"),
        ("http://[::ffff:127.0.0.2]:{S}/", "an IPv4-mapped IPv6 address"),
        ("http://169.254.169.254/", "a cloud metadata address (169.254.169.254)"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address (fd00:ec2::254)"),
        ("http://private.test/", "a private address (10.1.2.3)"),
        ("http://mixed.test:{S}/", "a loopback address (127.0.0.2)"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://nxdomain.test/", "host nxdomain.test does not resolve (name not found)"),
        ("http://images.test@127.0.0.2/", "must not contain credentials"),
        ("ftp://example.com/", "must be an http:// or https:// URL"),
    ],
)
async def test_rejection_names_the_reason(
    template: str,
    expected: str,
    policy: AddressPolicy,
    resolver: StaticResolver,
    sink: ConnectionSink,
    sink6: ConnectionSink,
) -> None:
    with pytest.raises(UrlRejected) as caught:
        await check_public_url(
            _url(template, sink, sink6), policy=policy, resolver=resolver, subject="callback_url"
        )
    assert expected in str(caught.value)


async def test_redirect_to_loopback_names_the_redirect(
    peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver, sink: ConnectionSink
) -> None:
    target = f"http://127.0.0.2:{sink.port}/secret"
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes(
            peer.url("/redirect?to=" + quote(target, safe="")), policy=policy, resolver=resolver
        )
    assert str(caught.value) == (
        f"image_urls[0] could not be fetched: redirect to {target} is not publicly reachable"
    )
    assert sink.connections() == 0


async def test_a_redirect_chain_longer_than_five_is_refused(
    peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    with pytest.raises(FetchFailed, match=r"too many redirects \(more than 5\)"):
        await fetch_image_bytes(peer.url("/chain/5"), policy=policy, resolver=resolver)
    assert await fetch_image_bytes(peer.url("/chain/4"), policy=policy, resolver=resolver)


async def test_localhost_is_refused_through_the_system_resolver(
    loopback_sink: ConnectionSink,
) -> None:
    url = f"http://localhost:{loopback_sink.port}/"
    policy = AddressPolicy.default()
    with pytest.raises(UrlRejected, match="resolves to a loopback address"):
        await check_public_url(
            url, policy=policy, resolver=SystemResolver(), subject="callback_url"
        )
    with pytest.raises(FetchFailed, match="the URL is not publicly reachable"):
        await fetch_image_bytes(url, policy=policy, resolver=SystemResolver())
    assert loopback_sink.connections() == 0


async def test_ip_literals_never_reach_the_resolver(
    policy: AddressPolicy, resolver: StaticResolver, sink: ConnectionSink, sink6: ConnectionSink
) -> None:
    literal_cases = [t for n, t in HOSTILE_URLS if not n.startswith(("name-", "scheme-"))]
    for template in literal_cases:
        with pytest.raises(UrlRejected):
            await check_public_url(_url(template, sink, sink6), policy=policy, resolver=resolver)
    assert resolver.lookups == []


async def test_allow_all_private_lets_local_development_fetch_from_loopback(
    peer: PeerServer,
) -> None:
    """OPENDANCE_ALLOW_PRIVATE_URLS=true: the same loopback URL that is refused above works."""
    url = peer.url("/image.png", host="127.1")
    with pytest.raises(FetchFailed):
        await fetch_image_bytes(url, policy=AddressPolicy.default(), resolver=SystemResolver())
    data = await fetch_image_bytes(
        url, policy=AddressPolicy.allow_all_private(), resolver=SystemResolver()
    )
    assert data.startswith(b"\x89PNG")
