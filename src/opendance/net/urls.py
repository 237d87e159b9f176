"""Parsing user-supplied http(s) URLs strictly, and checking where they lead.

The parser is deliberately narrower than a browser: anything two URL parsers might read
differently is refused instead of guessed (backslashes, whitespace, control characters,
``user:password@`` credentials, ``http:/host`` with one slash). What it accepts it normalises
into a ``ParsedUrl`` whose host is either a checked IP literal or a DNS name; the fetch client
never hands the original string to another parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from opendance.net.addresses import AddressPolicy, IPAddress
from opendance.net.errors import AddressRejected, NameResolutionError, UrlRejected
from opendance.net.hosts import Host, HostError, parse_host
from opendance.net.resolver import Resolver

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A syntactically valid http(s) URL, normalised.

    ``host`` is a lowercase ASCII name without trailing dot, or the canonical text of an IP
    literal (``ip`` is then set). ``target`` is the request target: path and query, ASCII,
    starting with ``/``; the fragment is dropped because it is never sent.
    """

    scheme: str
    host: str
    ip: IPAddress | None
    port: int
    target: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the host, plus the port when it is not the default."""
        host = Host(self.host, self.ip).text
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    def __str__(self) -> str:
        return self.url


def has_forbidden_characters(text: str) -> str | None:
    """Why ``text`` cannot be part of a URL we accept, or None.

    Whitespace and control characters are silently stripped by some parsers and not by others;
    a backslash is a path separator to browsers and an ordinary character to RFC 3986.
    """
    for char in text:
        if char.isspace() or ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            return "must not contain whitespace or control characters"
        if char == "\\":
            return "must not contain backslashes"
    return None


def parse_http_url(url: str, *, subject: str = "url") -> ParsedUrl:
    """Parse and normalise an http(s) URL; raise ``UrlRejected`` naming ``subject`` if invalid.

    Syntax only: nothing is resolved. IP literals in any spelling are recognised here.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(subject, f"must be at most {MAX_URL_LENGTH} characters long")
    if (problem := has_forbidden_characters(url)) is not None:
        raise UrlRejected(subject, problem)
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise UrlRejected(subject, "must be an http:// or https:// URL")
    if not rest.startswith("//"):
        raise UrlRejected(subject, f"must start with {scheme}:// followed by a host")
    rest = rest[2:].split("#", 1)[0]
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, target = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        raise UrlRejected(subject, "must not contain credentials (user:password@)")
    raw_host, port = _split_port(authority, scheme, subject)
    if not raw_host:
        raise UrlRejected(subject, "must have a host")
    try:
        host = parse_host(raw_host)
    except HostError as exc:
        raise UrlRejected(subject, f"has an invalid host: {exc}") from None
    if not target.startswith("/"):
        target = "/" + target
    # Non-ASCII in the path or query is sent percent-encoded as UTF-8, as browsers do.
    target = "".join(c if c.isascii() else quote(c, safe="") for c in target)
    return ParsedUrl(scheme=scheme, host=host.name, ip=host.ip, port=port, target=target)


def _split_port(authority: str, scheme: str, subject: str) -> tuple[str, int]:
    if authority.startswith("["):
        bracket = authority.find("]")
        if bracket < 0:
            raise UrlRejected(subject, "has an invalid host: an IPv6 address must end with ]")
        host, after = authority[: bracket + 1], authority[bracket + 1 :]
        if after and not after.startswith(":"):
            raise UrlRejected(subject, "has an invalid host: unexpected text after ]")
        port_text = after[1:] if after else None
    elif authority.count(":") > 1:
        raise UrlRejected(subject, "has an invalid host: IPv6 addresses must be in [ ]")
    else:
        host, colon, port_text_ = authority.partition(":")
        port_text = port_text_ if colon else None
    if port_text is None:
        return host, DEFAULT_PORTS[scheme]
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        raise UrlRejected(subject, "has an invalid port: it must be a number from 1 to 65535")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UrlRejected(subject, "has an invalid port: it must be a number from 1 to 65535")
    return host, port


async def resolve_checked(
    url: ParsedUrl, *, policy: AddressPolicy, resolver: Resolver, subject: str = "url"
) -> list[IPAddress]:
    """The addresses ``url`` leads to, every one of them allowed by ``policy``.

    All addresses are checked, not just the first: a name answering with one public and one
    private address is refused, because the connection could end up at either.
    Raises ``UrlRejected`` for a blocked address and ``NameResolutionError`` if the name does
    not resolve; IP literals are never sent to the resolver.
    """
    addresses = [url.ip] if url.ip is not None else await resolver.resolve(url.host, url.port)
    if not addresses:
        raise NameResolutionError(url.host, "no address")
    for ip in addresses:
        policy.check(ip, subject=subject)
    return addresses


async def check_public_url(
    url: str, *, policy: AddressPolicy, resolver: Resolver, subject: str = "url"
) -> None:
    """Refuse ``url`` unless it is a valid http(s) URL whose every address is allowed.

    Used at submit time (``callback_url``): a host that does not resolve is refused too, since
    a webhook to it could never be delivered. Delivery checks again; DNS may change meanwhile.
    """
    parsed = parse_http_url(url, subject=subject)
    try:
        await resolve_checked(parsed, policy=policy, resolver=resolver, subject=subject)
    except NameResolutionError as exc:
        raise AddressRejected(subject, f"host {exc.host} does not resolve ({exc.detail})") from None
