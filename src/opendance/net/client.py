"""An HTTP client for URLs chosen by users, pinned to addresses the policy has checked.

For every hop the host is resolved once, every address is checked, and httpx is handed a URL
whose host is the checked IP, so no second lookup can happen (that second lookup is what DNS
rebinding exploits). The real name travels in the ``Host`` header and, for https, in the
``sni_hostname`` request extension, so TLS still verifies the certificate against the name the
user gave. Each hop gets its own connection; a pooled connection opened for one name is never
reused for another name on the same IP.

Redirects are followed by hand, only when asked, and every hop is parsed and checked again.
The whole exchange (DNS, connects, redirects, body) shares one deadline, so a server that
trickles a byte a second cannot hold a worker longer than ``timeout``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin

import httpx

from opendance import __version__
from opendance.net.addresses import AddressPolicy, IPAddress, connect_address
from opendance.net.errors import (
    AddressRejected,
    FetchFailed,
    NameResolutionError,
    ResponseTooLarge,
)
from opendance.net.limits import format_size
from opendance.net.resolver import Resolver
from opendance.net.urls import ParsedUrl, has_forbidden_characters, parse_http_url, resolve_checked

DEFAULT_USER_AGENT = f"Opendance/{__version__}"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_REDIRECTS_LIMIT = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Set per hop by this module (Host, framing); a caller's value would break the pinning or framing.
_MANAGED_HEADERS = ("host", "content-length", "transfer-encoding", "connection")
# Credentials meant for one origin must not be replayed to the origin a redirect points at.
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_BODY_HEADERS = ("content-type", "content-encoding", "content-language")


@dataclass(frozen=True, slots=True)
class SafeResponse:
    """A complete response. ``body`` is the body as sent (no Content-Encoding is undone; the
    client asks for ``identity``); ``truncated`` is True when it was cut at the size cap."""

    status: int
    headers: httpx.Headers
    body: bytes
    final_url: str
    truncated: bool = False

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class SavedResponse:
    """A response whose body went to the caller's ``write`` (2xx only). ``size`` is the number
    of body bytes written; for any other status nothing was written and ``size`` is 0."""

    status: int
    headers: httpx.Headers
    size: int
    final_url: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


_T = TypeVar("_T")
_BodyReader = Callable[[httpx.Response, ParsedUrl, "_Exchange"], Awaitable[_T]]


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """The certifi trust store, loaded once per process rather than once per hop."""
    return httpx.create_ssl_context()


class SafeHttpClient:
    """Makes requests to untrusted URLs under an ``AddressPolicy``.

    Stateless apart from its configuration; safe to share between tasks. ``ssl_context``
    replaces the default trust store (tests use it to trust a throwaway certificate).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        *,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.user_agent = user_agent
        self._ssl_context = ssl_context

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109 -- one deadline over DNS, hops and body
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_redirects: int = 0,
        truncate_body: bool = False,
        subject: str = "url",
    ) -> SafeResponse:
        """Send one request and return the response, whatever its status.

        With ``max_redirects=0`` a 3xx is returned as is; otherwise up to that many redirects
        are followed, each re-checked. A body over ``max_body_bytes`` raises ``FetchFailed``,
        or is cut off when ``truncate_body`` (for callers that only glance at the body).
        Raises ``UrlRejected`` (naming ``subject`` or the redirect) before connecting to a
        blocked address, and ``FetchFailed`` for DNS, connection, TLS, timeout, size and
        redirect-limit failures.
        """

        async def read(
            response: httpx.Response, url: ParsedUrl, exchange: _Exchange
        ) -> SafeResponse:
            body, truncated = await _read_body(response, exchange)
            return SafeResponse(
                response.status_code, httpx.Headers(response.headers), body, url.url, truncated
            )

        return await self._exchange(
            method,
            url,
            read,
            headers=headers,
            content=content,
            timeout=timeout,
            max_body_bytes=max_body_bytes,
            max_redirects=max_redirects,
            truncate_body=truncate_body,
            subject=subject,
        )

    async def download(
        self,
        url: str,
        write: Callable[[bytes], object],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109 -- one deadline over DNS, hops and body
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_redirects: int = 0,
        subject: str = "url",
    ) -> SavedResponse:
        """GET ``url`` and stream a 2xx body to ``write`` chunk by chunk, never holding it in
        memory (large files). Other statuses are returned with nothing written.

        ``write`` is called on the event loop, so it must be quick (a local file). The checks,
        the deadline and the errors are those of :meth:`request`; a body over
        ``max_body_bytes`` raises ``ResponseTooLarge`` after at most that many bytes were
        written, and the caller discards what it wrote.
        """

        async def save(
            response: httpx.Response, url: ParsedUrl, exchange: _Exchange
        ) -> SavedResponse:
            size = 0
            if 200 <= response.status_code < 300:
                size = await _stream_body(response, exchange.max_body_bytes, write)
            return SavedResponse(
                response.status_code, httpx.Headers(response.headers), size, url.url
            )

        return await self._exchange(
            "GET",
            url,
            save,
            headers=headers,
            content=None,
            timeout=timeout,
            max_body_bytes=max_body_bytes,
            max_redirects=max_redirects,
            truncate_body=False,
            subject=subject,
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        read: _BodyReader[_T],
        *,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        timeout: float,  # noqa: ASYNC109 -- one deadline over DNS, hops and body
        max_body_bytes: int,
        max_redirects: int,
        truncate_body: bool,
        subject: str,
    ) -> _T:
        if not 0 <= max_redirects <= MAX_REDIRECTS_LIMIT:
            raise ValueError(f"max_redirects must be between 0 and {MAX_REDIRECTS_LIMIT}")
        if timeout <= 0 or max_body_bytes < 0:
            raise ValueError("timeout must be positive and max_body_bytes not negative")
        parsed = parse_http_url(url, subject=subject)
        request_headers = httpx.Headers(headers or {})
        for name in _MANAGED_HEADERS:
            request_headers.pop(name, None)
        request_headers.setdefault("User-Agent", self.user_agent)
        request_headers.setdefault("Accept-Encoding", "identity")
        exchange = _Exchange(
            method=method.upper(),
            headers=request_headers,
            content=content,
            deadline=asyncio.get_running_loop().time() + timeout,
            max_body_bytes=max_body_bytes,
            truncate_body=truncate_body,
        )
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(parsed, subject, exchange, max_redirects, read)
        except (TimeoutError, httpx.TimeoutException):
            raise FetchFailed(f"timed out after {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(_describe_transport_error(exc)) from None

    async def _follow(
        self,
        url: ParsedUrl,
        subject: str,
        exchange: _Exchange,
        max_redirects: int,
        read: _BodyReader[_T],
    ) -> _T:
        for hop in range(max_redirects + 1):
            async with self._open(url, subject, exchange) as response:
                location = response.headers.get("location")
                if (
                    max_redirects == 0
                    or response.status_code not in REDIRECT_STATUSES
                    or location is None
                ):
                    return await read(response, url, exchange)
                status = response.status_code
            if hop == max_redirects:
                break
            target = _redirect_target(url, location)
            subject = f"redirect to {_shorten(target)}"
            next_url = parse_http_url(target, subject=subject)
            exchange.redirected(status, cross_origin=next_url.origin != url.origin)
            url = next_url
        raise FetchFailed(f"too many redirects (more than {max_redirects})")

    @asynccontextmanager
    async def _open(
        self, url: ParsedUrl, subject: str, exchange: _Exchange
    ) -> AsyncIterator[httpx.Response]:
        """Resolve and check ``url``, connect to a checked address, yield the streamed response."""
        try:
            addresses = await resolve_checked(
                url, policy=self.policy, resolver=self.resolver, subject=subject
            )
        except NameResolutionError as exc:
            raise AddressRejected(
                subject, f"host {exc.host} does not resolve ({exc.detail})"
            ) from None
        # The bare transport, not AsyncClient: no cookie jar, no auth, no environment proxies,
        # and no client-side redirect bookkeeping that parses a hostile Location header.
        async with httpx.AsyncHTTPTransport(
            verify=self._ssl_context or _default_ssl_context(), retries=0
        ) as transport:
            response = await _send_to_any(transport, url, addresses, exchange)
            try:
                yield response
            finally:
                await response.aclose()


@dataclass(kw_only=True, eq=False)
class _Exchange:
    """The request as it evolves along a redirect chain (method, body and headers change)."""

    method: str
    headers: httpx.Headers
    content: bytes | None
    deadline: float
    max_body_bytes: int
    truncate_body: bool

    def redirected(self, status: int, *, cross_origin: bool) -> None:
        """Rewrite the request for the next hop the way browsers do."""
        if (status == 303 and self.method != "HEAD") or (
            status in (301, 302) and self.method == "POST"
        ):
            self.method, self.content = "GET", None
            for name in _BODY_HEADERS:
                self.headers.pop(name, None)
        if cross_origin:
            for name in _CREDENTIAL_HEADERS:
                self.headers.pop(name, None)


async def _send_to_any(
    transport: httpx.AsyncHTTPTransport,
    url: ParsedUrl,
    addresses: list[IPAddress],
    exchange: _Exchange,
) -> httpx.Response:
    """Try the checked addresses in order until one accepts the connection.

    Each attempt gets an equal share of the time left, so one blackholed address cannot use up
    the whole deadline. Only connection failures move on; anything later is the answer.
    """
    loop = asyncio.get_running_loop()
    headers = exchange.headers.copy()
    headers["Host"] = url.host_header
    last_error: httpx.TransportError | None = None
    for index, ip in enumerate(addresses):
        remaining = max(exchange.deadline - loop.time(), 0.001)
        timeout = httpx.Timeout(remaining, connect=remaining / (len(addresses) - index))
        extensions: dict[str, object] = {"timeout": timeout.as_dict()}
        if url.ip is None and url.scheme == "https":
            extensions["sni_hostname"] = url.host
        request = httpx.Request(
            exchange.method,
            httpx.URL(
                scheme=url.scheme,
                host=str(connect_address(ip)),
                port=url.port,
                raw_path=url.target.encode("ascii"),
            ),
            headers=headers,
            content=exchange.content,
            extensions=extensions,
        )
        try:
            response = await transport.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last_error = exc
            continue
        response.request = request
        return response
    assert last_error is not None  # addresses is never empty
    raise FetchFailed(_describe_connect_error(url, last_error))


async def _read_body(response: httpx.Response, exchange: _Exchange) -> tuple[bytes, bool]:
    """Read the body in chunks, never holding more than ``max_body_bytes`` of it."""
    limit = exchange.max_body_bytes
    declared = response.headers.get("content-length", "")
    if not exchange.truncate_body and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        if size + len(chunk) > limit:
            if not exchange.truncate_body:
                raise _too_large(limit)
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _stream_body(
    response: httpx.Response, limit: int, write: Callable[[bytes], object]
) -> int:
    """Hand the body to ``write`` in chunks; raise once it exceeds ``limit`` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        write(chunk)
    return size


def _too_large(limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(limit, f"the response body is larger than {format_size(limit)}")


def _redirect_target(current: ParsedUrl, location: str) -> str:
    if (problem := has_forbidden_characters(location)) is not None:
        raise FetchFailed(f"the server redirected to an invalid URL (it {problem})")
    return urljoin(current.url, location)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe_connect_error(url: ParsedUrl, exc: httpx.TransportError) -> str:
    where = url.host_header
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting to {where} timed out"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the TLS certificate of {where} is not valid ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake with {where} failed"
        if isinstance(cause, ConnectionRefusedError):
            return f"{where} refused the connection"
    return f"could not connect to {where}"


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server sent an invalid HTTP response"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return "the connection broke during the request"
    return f"the request failed ({type(exc).__name__})"
