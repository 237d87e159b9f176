"""parse_http_url and check_public_url: syntax, normalisation and IP-literal recognition."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from opendance.net import (
    AddressPolicy,
    StaticResolver,
    UrlRejected,
    check_public_url,
    parse_http_url,
)


@pytest.mark.parametrize(
    ("url", "normalised", "host_header"),
    [
        ("http://example.com", "http://example.com/", "example.com"),
        ("HTTPS://Example.COM:443/a?b=1#frag", "https://example.com/a?b=1", "example.com"),
        ("http://example.com:8080/p", "http://example.com:8080/p", "example.com:8080"),
        ("http://example.com.:80/", "http://example.com/", "example.com"),
        ("http://example.com?x=1", "http://example.com/?x=1", "example.com"),
        (
            "https://bücher.example/ä",
            "https://xn--bcher-kva.example/%C3%A4",
            "xn--bcher-kva.example",
        ),
        ("http://[2606:4700::1]:8443/", "http://[2606:4700::1]:8443/", "[2606:4700::1]:8443"),
        ("http://a_b.example.com/", "http://a_b.example.com/", "a_b.example.com"),
        ("http://x.0xz/", "http://x.0xz/", "x.0xz"),
    ],
)
def test_parse_normalises_valid_urls(url: str, normalised: str, host_header: str) -> None:
    parsed = parse_http_url(url)
    assert parsed.url == normalised
    assert parsed.host_header == host_header


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104 -- a parsed address, not a bind
        ("0x", "0.0.0.0"),  # noqa: S104 -- a parsed address, not a bind
        ("1.0x10000", "1.1.0.0"),
        ("4294967295", "255.255.255.255"),
        ("8.8.8.8", "8.8.8.8"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[0:0:0:0:0:FFFF:7F00:1]", "::ffff:7f00:1"),
    ],
)
def test_ip_literals_are_read_like_browsers_and_inet_aton(host: str, address: str) -> None:
    parsed = parse_http_url(f"http://{host}/")
    assert parsed.ip == ip_address(address)
    assert parsed.host == str(ip_address(address))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "must be an http:// or https:// URL"),
        ("example.com/a.png", "must be an http:// or https:// URL"),
        ("ftp://example.com/", "must be an http:// or https:// URL"),
        ("data:image/png;base64,AAAA", "must be an http:// or https:// URL"),
        ("http:example.com", "must start with http:// followed by a host"),
        ("http:/example.com", "must start with http:// followed by a host"),
        ("http:///example.com", "must have a host"),
        ("http://", "must have a host"),
        ("http://:80/", "must have a host"),
        ("http://user:pass@example.com/", "must not contain credentials"),
        ("http://@example.com/", "must not contain credentials"),
        ("http://example.com:0/", "has an invalid port"),
        ("http://example.com:65536/", "has an invalid port"),
        ("http://example.com:/", "has an invalid port"),
        ("http://example.com:8o/", "has an invalid port"),
        ("http://example.com:+80/", "has an invalid port"),
        ("http://::1/", "IPv6 addresses must be in [ ]"),
        ("http://[::1/", "an IPv6 address must end with ]"),
        ("http://[::1]x/", "unexpected text after ]"),
        ("http://[127.0.0.1]/", "is not a valid IPv6 address"),
        ("http://[fe80::1%25eth0]/", "IPv6 zone identifiers are not accepted"),
        ("http://1.2.3.256/", "a part is out of range"),
        ("http://256.1/", "a part is out of range"),
        ("http://1.2.3.4.5/", "is not a valid one"),
        ("http://08.1.1.1/", "is not a valid one"),
        ("http://example.123/", "is not a valid one"),
        ("http://exa%6dple.com/", "percent-encoded hosts are not accepted"),
        ("http://exa$mple.com/", "characters not allowed in host names"),
        ("http://a..b/", "empty label"),
        ("http://" + "a" * 64 + ".com/", "longer than 63 characters"),
        ("http://exa mple.com/", "must not contain whitespace or control characters"),
        ("http://example.com/\x00", "must not contain whitespace or control characters"),
        ("http://example.com/\u0085", "must not contain whitespace or control characters"),
        ("http://example.com\\@evil.com/", "must not contain backslashes"),
        ("http://example.com/" + "a" * 2048, "must be at most 2048 characters long"),
    ],
)
def test_parse_rejects_invalid_and_ambiguous_urls(url: str, reason: str) -> None:
    with pytest.raises(UrlRejected) as caught:
        parse_http_url(url, subject="callback_url")
    assert str(caught.value).startswith("callback_url ")
    assert reason in str(caught.value)


def test_a_url_of_exactly_2048_characters_is_accepted() -> None:
    url = "http://example.com/"
    assert parse_http_url(url + "a" * (2048 - len(url))).target.endswith("a")


async def test_check_public_url_accepts_a_public_name_and_literal() -> None:
    resolver = StaticResolver({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    policy = AddressPolicy.default()
    await check_public_url("https://hooks.example.com/cb", policy=policy, resolver=resolver)
    await check_public_url("http://93.184.216.34:8080/cb", policy=policy, resolver=resolver)
    assert resolver.lookups == ["hooks.example.com"]


async def test_check_public_url_allows_private_addresses_when_the_operator_says_so() -> None:
    resolver = StaticResolver({"db.internal": ["10.0.0.5"]})
    policy = AddressPolicy.allow_all_private()
    await check_public_url("http://db.internal/hook", policy=policy, resolver=resolver)
    await check_public_url("http://127.1:8000/hook", policy=policy, resolver=resolver)
    with pytest.raises(UrlRejected, match="must be an http"):
        await check_public_url("file:///etc/passwd", policy=policy, resolver=resolver)
