"""Getting the bytes of a task's input image, from an http(s) URL or an inline data URL.

Only the transfer is checked here (policy, status, size, deadline); whether the bytes are a
JPEG, PNG or WebP within the pixel limits is decided by ``opendance.media.images``, by content.
Every failure becomes one ``FetchFailed`` whose message starts with the field name, because it
ends up verbatim as the task's ``error_message``.
"""

from __future__ import annotations

import logging
import ssl

from opendance.net.addresses import AddressPolicy
from opendance.net.client import SafeHttpClient
from opendance.net.data_urls import is_data_url, parse_data_image_url
from opendance.net.errors import AddressRejected, FetchFailed, ResponseTooLarge, UrlRejected
from opendance.net.limits import MAX_IMAGE_BYTES, format_size
from opendance.net.resolver import Resolver

log = logging.getLogger("opendance.net")

MAX_IMAGE_REDIRECTS = 5
_ACCEPT = "image/jpeg, image/png, image/webp;q=0.9, */*;q=0.1"


async def fetch_image_bytes(
    url: str,
    *,
    policy: AddressPolicy,
    resolver: Resolver,
    timeout: float = 15.0,  # noqa: ASYNC109 -- one deadline over DNS, hops and body
    max_bytes: int = MAX_IMAGE_BYTES,
    label: str = "image_urls[0]",
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """The raw bytes of the image at ``url`` (http, https or ``data:image/...;base64,``).

    Follows up to five redirects, each re-checked against ``policy``; accepts only a 2xx
    answer with a non-empty, unencoded body of at most ``max_bytes``. Raises ``FetchFailed``
    ("image_urls[0] could not be fetched: HTTP 404") for every failure.
    """
    if is_data_url(url):
        try:
            return parse_data_image_url(url, subject=label, max_bytes=max_bytes).data
        except UrlRejected as exc:
            raise FetchFailed(str(exc)) from None
    client = SafeHttpClient(policy, resolver, ssl_context=ssl_context)
    try:
        response = await client.request(
            "GET",
            url,
            headers={"Accept": _ACCEPT},
            timeout=timeout,
            max_body_bytes=max_bytes,
            max_redirects=MAX_IMAGE_REDIRECTS,
            subject="the URL",
        )
    except ResponseTooLarge:
        raise FetchFailed(
            f"{label} could not be fetched: the image is larger than {format_size(max_bytes)}"
        ) from None
    except AddressRejected as exc:
        log.info("%s refused: %s", label, exc)
        raise FetchFailed(f"{label} could not be fetched: {exc.public_message}") from None
    except (UrlRejected, FetchFailed) as exc:
        raise FetchFailed(f"{label} could not be fetched: {exc}") from None
    if not response.is_success:
        raise FetchFailed(f"{label} could not be fetched: HTTP {response.status}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchFailed(
            f"{label} could not be fetched: the server sent it {encoding}-encoded "
            "although an unencoded image was requested"
        )
    if not response.body:
        raise FetchFailed(f"{label} could not be fetched: the server sent an empty body")
    return response.body
