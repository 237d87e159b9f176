"""Outbound HTTP to user-supplied URLs, SSRF-safe.

Every user URL goes through one path: ``parse_http_url`` (strict syntax, IP literals in every
spelling recognised), then a ``Resolver`` (system DNS, or a fixed table in tests), then the
``AddressPolicy`` (every resolved address must be allowed), then ``SafeHttpClient``, which
connects to exactly the checked address. ``check_public_url`` runs the first three at submit
time; ``fetch_image_bytes`` is the image download on top of the client.
"""

from __future__ import annotations

from opendance.net.addresses import DEFAULT_BLOCKED, AddressPolicy, BlockedNetwork, IPAddress
from opendance.net.client import SafeHttpClient, SafeResponse, SavedResponse
from opendance.net.data_urls import DataImage, is_data_url, parse_data_image_url
from opendance.net.errors import FetchFailed, NameResolutionError, ResponseTooLarge, UrlRejected
from opendance.net.fetch import fetch_image_bytes
from opendance.net.limits import MAX_IMAGE_BYTES
from opendance.net.resolver import Resolver, StaticResolver, SystemResolver
from opendance.net.urls import ParsedUrl, check_public_url, parse_http_url

__all__ = [
    "DEFAULT_BLOCKED",
    "MAX_IMAGE_BYTES",
    "AddressPolicy",
    "BlockedNetwork",
    "DataImage",
    "FetchFailed",
    "IPAddress",
    "NameResolutionError",
    "ParsedUrl",
    "Resolver",
    "ResponseTooLarge",
    "SafeHttpClient",
    "SafeResponse",
    "SavedResponse",
    "StaticResolver",
    "SystemResolver",
    "UrlRejected",
    "check_public_url",
    "fetch_image_bytes",
    "is_data_url",
    "parse_data_image_url",
    "parse_http_url",
]
