"""SafeHttpClient and fetch_image_bytes against real servers on loopback."""

from __future__ import annotations

import base64
import json
import ssl
import time
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import quote

import pytest

from opendance.net import (
    AddressPolicy,
    FetchFailed,
    ResponseTooLarge,
    SafeHttpClient,
    StaticResolver,
    UrlRejected,
    fetch_image_bytes,
)
from opendance.net.addresses import IPAddress
from tests.net.servers import BlackHole, ConnectionSink, PeerServer, free_port, image_bytes

MB = 1024 * 1024


@pytest.fixture
def client(policy: AddressPolicy, resolver: StaticResolver) -> SafeHttpClient:
    return SafeHttpClient(policy, resolver)


async def _echo(
    client: SafeHttpClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_redirects: int = 0,
) -> dict[str, object]:
    """What the peer's /echo route received."""
    response = await client.request("GET", url, headers=headers, max_redirects=max_redirects)
    assert response.status == 200, response
    received: dict[str, object] = json.loads(response.body)
    return received


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "magic"),
    [("/image.png", b"\x89PNG"), ("/image.jpg", b"\xff\xd8\xff"), ("/image.webp", b"RIFF")],
)
async def test_fetch_image_returns_the_bytes_the_server_sent(
    path: str, magic: bytes, peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    data = await fetch_image_bytes(peer.url(path), policy=policy, resolver=resolver)
    assert data.startswith(magic)
    assert data == image_bytes({"/image.png": "PNG", "/image.jpg": "JPEG"}.get(path, "WEBP"))


async def test_fetch_image_by_name_resolves_once_and_sends_the_real_host(
    peer: PeerServer, client: SafeHttpClient, resolver: StaticResolver
) -> None:
    received = await _echo(client, peer.url("/echo", host="IMAGES.test."))
    headers = received["headers"]
    assert isinstance(headers, dict)
    assert headers["host"] == f"images.test:{peer.port}"
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"].startswith("Opendance/")
    assert resolver.lookups == ["images.test"]


async def test_fetch_image_accepts_a_data_url_without_any_connection(
    policy: AddressPolicy, resolver: StaticResolver, sink: ConnectionSink
) -> None:
    png = image_bytes("PNG")
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert await fetch_image_bytes(url, policy=policy, resolver=resolver) == png
    assert resolver.lookups == []
    assert sink.connections() == 0


async def test_fetch_image_rejects_a_bad_data_url_with_the_field_name(
    policy: AddressPolicy, resolver: StaticResolver
) -> None:
    with pytest.raises(FetchFailed, match=r"^image_urls\[0\] must be a data URL of type image/"):
        await fetch_image_bytes("data:image/gif;base64,R0lGOA==", policy=policy, resolver=resolver)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status/404", "image_urls[0] could not be fetched: HTTP 404"),
        ("/status/500", "image_urls[0] could not be fetched: HTTP 500"),
        ("/empty", "image_urls[0] could not be fetched: the server sent an empty body"),
        ("/gzipped", "the server sent it gzip-encoded"),
    ],
)
async def test_fetch_image_fails_clearly(
    path: str, message: str, peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes(peer.url(path), policy=policy, resolver=resolver)
    assert message in str(caught.value)


async def test_fetch_image_fails_when_the_name_does_not_resolve(
    policy: AddressPolicy, resolver: StaticResolver
) -> None:
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes("https://nowhere.test/a.png", policy=policy, resolver=resolver)
    # the same words as for a blocked address: clients must not learn which names resolve
    assert str(caught.value) == (
        "image_urls[0] could not be fetched: the URL is not publicly reachable"
    )


async def test_fetch_image_fails_when_nothing_listens(
    policy: AddressPolicy, resolver: StaticResolver
) -> None:
    port = free_port()
    with pytest.raises(FetchFailed, match=f"127.0.0.1:{port} refused the connection"):
        await fetch_image_bytes(f"http://127.0.0.1:{port}/", policy=policy, resolver=resolver)


async def test_client_tries_the_next_checked_address_when_one_refuses(peer: PeerServer) -> None:
    """127.0.0.3 is allowed but has no listener on the peer's port; 127.0.0.1 does."""
    policy = AddressPolicy.default(allow=["127.0.0.1/32", "127.0.0.3/32"])
    resolver = StaticResolver({"two.test": ["127.0.0.3", "127.0.0.1"]})
    data = await fetch_image_bytes(
        peer.url("/image.png", host="two.test"), policy=policy, resolver=resolver
    )
    assert data.startswith(b"\x89PNG")


async def test_the_checked_address_is_the_one_connected_to(
    peer: PeerServer, policy: AddressPolicy, sink: ConnectionSink
) -> None:
    """DNS rebinding: the first answer is "public", every later one points at the sink. The
    client must resolve once and dial the address it checked, never look the name up again."""

    class RebindingResolver:
        def __init__(self) -> None:
            self.calls = 0

        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            self.calls += 1
            return [ip_address("127.0.0.1" if self.calls == 1 else "127.0.0.2")]

    resolver = RebindingResolver()
    data = await fetch_image_bytes(
        peer.url("/image.png", host="rebind.test"), policy=policy, resolver=resolver
    )
    assert data.startswith(b"\x89PNG")
    assert resolver.calls == 1
    assert sink.connections() == 0


async def test_webhook_style_requests_return_any_status_without_following(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    """What webhook delivery needs: POST, no redirects, a small body cap, no raising on status."""
    for path, status in [("/status/410", 410), ("/status/500", 500), ("/redirect?to=/echo", 302)]:
        response = await client.request(
            "POST",
            peer.url(path),
            content=b'{"code":200}',
            headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
            max_body_bytes=4,
            truncate_body=True,
        )
        assert response.status == status
        assert not response.is_success
        assert len(response.body) <= 4
    posted = await client.request(
        "POST", peer.url("/echo"), content=b"{}", headers={"webhook-id": "msg_1"}
    )
    assert posted.is_success
    received = json.loads(posted.body)
    assert (received["method"], received["body"]) == ("POST", "{}")
    assert received["headers"]["webhook-id"] == "msg_1"


# --- size limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/huge", "/huge-unsized"])
async def test_fetch_image_stops_reading_at_the_size_limit(
    path: str, peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed) as caught:
        await fetch_image_bytes(peer.url(path), policy=policy, resolver=resolver, max_bytes=MB)
    assert str(caught.value) == "image_urls[0] could not be fetched: the image is larger than 1 MB"
    assert time.monotonic() - started < 5


async def test_default_image_limit_is_20_mb(
    peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    with pytest.raises(FetchFailed, match="larger than 20 MB"):
        await fetch_image_bytes(peer.url("/huge"), policy=policy, resolver=resolver)


async def test_client_raises_response_too_large_for_an_unsized_body(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    with pytest.raises(ResponseTooLarge) as caught:
        await client.request("GET", peer.url("/huge-unsized"), max_body_bytes=100_000)
    assert caught.value.limit == 100_000


async def test_client_can_truncate_instead_of_failing(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    response = await client.request(
        "GET", peer.url("/huge"), max_body_bytes=1000, truncate_body=True
    )
    assert response.status == 200
    assert response.truncated
    assert response.body == b"\0" * 1000


# --- deadlines ------------------------------------------------------------------------------


async def test_a_server_that_never_answers_fails_within_the_deadline(
    policy: AddressPolicy, resolver: StaticResolver
) -> None:
    hole = BlackHole()
    try:
        started = time.monotonic()
        with pytest.raises(FetchFailed, match=r"timed out after 0\.5 s"):
            await fetch_image_bytes(
                f"http://127.0.0.1:{hole.port}/", policy=policy, resolver=resolver, timeout=0.5
            )
        assert time.monotonic() - started < 1.5
    finally:
        hole.close()


@pytest.mark.parametrize("path", ["/hang", "/trickle"])
async def test_slow_servers_are_cut_off_at_the_overall_deadline(
    path: str, peer: PeerServer, policy: AddressPolicy, resolver: StaticResolver
) -> None:
    """/trickle sends a byte every 50 ms: no single read times out, the whole must."""
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"timed out after 0\.6 s"):
        await fetch_image_bytes(peer.url(path), policy=policy, resolver=resolver, timeout=0.6)
    assert time.monotonic() - started < 1.6


async def test_the_deadline_covers_dns(policy: AddressPolicy) -> None:
    class HangingResolver:
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            import asyncio

            await asyncio.sleep(60)
            raise AssertionError("unreachable")

    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"timed out after 0\.3 s"):
        await fetch_image_bytes(
            "http://slow-dns.test/", policy=policy, resolver=HangingResolver(), timeout=0.3
        )
    assert time.monotonic() - started < 1.3


# --- redirects ------------------------------------------------------------------------------


async def test_redirects_are_not_followed_unless_asked(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    response = await client.request("GET", peer.url("/redirect?to=/image.png"))
    assert response.status == 302
    assert response.headers["location"] == "/image.png"
    assert response.final_url == peer.url("/redirect?to=/image.png")


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_relative_redirects_are_followed_and_reported(
    code: int, peer: PeerServer, client: SafeHttpClient
) -> None:
    response = await client.request(
        "GET", peer.url(f"/redirect?code={code}&to=/image.png"), max_redirects=1
    )
    assert response.status == 200
    assert response.body.startswith(b"\x89PNG")
    assert response.final_url == peer.url("/image.png")


@pytest.mark.parametrize(
    ("code", "method", "body"),
    [
        (301, "GET", ""),
        (302, "GET", ""),
        (303, "GET", ""),
        (307, "POST", "payload"),
        (308, "POST", "payload"),
    ],
)
async def test_post_redirects_change_method_like_browsers(
    code: int, method: str, body: str, peer: PeerServer, client: SafeHttpClient
) -> None:
    response = await client.request(
        "POST",
        peer.url(f"/redirect?code={code}&to=/echo"),
        content=b"payload",
        headers={"Content-Type": "text/plain"},
        max_redirects=1,
    )
    received = json.loads(response.body)
    assert (received["method"], received["body"]) == (method, body)
    assert ("content-type" in received["headers"]) == (method == "POST")


async def test_credentials_are_dropped_on_a_cross_origin_redirect(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    headers = {"Authorization": "Bearer secret", "Cookie": "a=b"}
    same = await _echo(client, peer.url("/redirect?to=/echo"), headers=headers, max_redirects=1)
    other = peer.url("/echo", host="images.test")
    cross = await _echo(
        client,
        peer.url("/redirect?to=" + quote(other, safe="")),
        headers=headers,
        max_redirects=1,
    )
    assert isinstance(same["headers"], dict)
    assert isinstance(cross["headers"], dict)
    assert same["headers"]["authorization"] == "Bearer secret"
    assert "authorization" not in cross["headers"]
    assert "cookie" not in cross["headers"]
    assert cross["headers"]["host"] == f"images.test:{peer.port}"


async def test_a_caller_cannot_override_the_host_header(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    received = await _echo(client, peer.url("/echo"), headers={"Host": "evil.test"})
    assert isinstance(received["headers"], dict)
    assert received["headers"]["host"] == f"127.0.0.1:{peer.port}"


async def test_a_redirect_with_a_backslash_is_refused(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    with pytest.raises(FetchFailed, match="redirected to an invalid URL"):
        await client.request(
            "GET", peer.url("/redirect?to=" + quote("/\\evil.test/", safe="")), max_redirects=1
        )


async def test_redirect_to_another_scheme_is_refused(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    with pytest.raises(UrlRejected, match="redirect to file:///etc/passwd must be an http"):
        await client.request("GET", peer.url("/redirect?to=file:///etc/passwd"), max_redirects=3)


async def test_non_ascii_paths_are_sent_percent_encoded(
    peer: PeerServer, client: SafeHttpClient
) -> None:
    received = await _echo(client, peer.url("/echo/bücher?q=ä#fragment"))
    assert received["path"] == "/echo/b%C3%BCcher?q=%C3%A4"


@pytest.mark.parametrize("max_redirects", [-1, 11])
async def test_client_refuses_absurd_redirect_limits(
    max_redirects: int, client: SafeHttpClient
) -> None:
    with pytest.raises(ValueError, match="max_redirects"):
        await client.request("GET", "http://images.test/", max_redirects=max_redirects)


# --- TLS ------------------------------------------------------------------------------------


async def test_https_is_pinned_yet_verified_against_the_real_name(
    tls_peer: tuple[PeerServer, Path], policy: AddressPolicy, resolver: StaticResolver
) -> None:
    """The connection goes to 127.0.0.1, but SNI and certificate checks use images.test."""
    server, pem = tls_peer
    trust = ssl.create_default_context(cafile=str(pem))
    data = await fetch_image_bytes(
        server.url("/image.png", host="images.test"),
        policy=policy,
        resolver=resolver,
        ssl_context=trust,
    )
    assert data.startswith(b"\x89PNG")


@pytest.mark.parametrize("host", ["other-name.test", "127.0.0.1"])
async def test_https_fails_when_the_certificate_is_for_another_name(
    host: str, tls_peer: tuple[PeerServer, Path], policy: AddressPolicy, resolver: StaticResolver
) -> None:
    server, pem = tls_peer
    trust = ssl.create_default_context(cafile=str(pem))
    with pytest.raises(FetchFailed, match=r"TLS certificate of .* is not valid"):
        await fetch_image_bytes(
            server.url("/image.png", host=host),
            policy=policy,
            resolver=resolver,
            ssl_context=trust,
        )


async def test_https_fails_with_an_untrusted_certificate(
    tls_peer: tuple[PeerServer, Path], policy: AddressPolicy, resolver: StaticResolver
) -> None:
    server, _ = tls_peer
    with pytest.raises(FetchFailed, match=r"TLS certificate of images\.test:\d+ is not valid"):
        await fetch_image_bytes(
            server.url("/image.png", host="images.test"), policy=policy, resolver=resolver
        )


# --- downloads to a file ---------------------------------------------------------------------


async def test_download_streams_a_2xx_body_to_the_writer(
    client: SafeHttpClient, peer: PeerServer
) -> None:
    chunks: list[bytes] = []
    saved = await client.download(peer.url("/image.png"), chunks.append, max_body_bytes=MB)
    assert saved.status == 200 and saved.is_success
    assert b"".join(chunks) == image_bytes("PNG") and saved.size == len(image_bytes("PNG"))


async def test_download_writes_nothing_for_other_statuses(
    client: SafeHttpClient, peer: PeerServer
) -> None:
    chunks: list[bytes] = []
    saved = await client.download(peer.url("/status/404"), chunks.append)
    assert (saved.status, saved.size, chunks) == (404, 0, [])
    redirect = await client.download(peer.url("/redirect?to=/image.png"), chunks.append)
    assert redirect.status == 302 and redirect.headers["location"] == "/image.png" and not chunks


async def test_download_stops_at_the_size_limit(client: SafeHttpClient, peer: PeerServer) -> None:
    written = 0

    def count(chunk: bytes) -> None:
        nonlocal written
        written += len(chunk)

    with pytest.raises(ResponseTooLarge):
        await client.download(peer.url("/huge-unsized"), count, max_body_bytes=MB)
    assert written <= MB


async def test_download_is_checked_like_any_request(
    client: SafeHttpClient, sink: ConnectionSink
) -> None:
    with pytest.raises(UrlRejected):
        await client.download(f"http://127.0.0.2:{sink.port}/v.mp4", lambda _chunk: None)
    assert sink.connections() == 0
