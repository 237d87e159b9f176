"""Verifying Opendance webhooks on the receiving side (Standard Webhooks semantics).

    from opendance.client.webhooks import verify, WebhookVerificationError

    try:
        event = verify(request_body, request_headers, "whsec_...")
    except WebhookVerificationError:
        return 400
    task = event["data"]          # the body GET /v1/status returns

The checks, in order: the three ``webhook-*`` headers are present; the timestamp lies within
``tolerance`` seconds of now (either way), so a captured request cannot be replayed later; one of
the space-separated ``v1,<base64>`` signatures equals the HMAC-SHA256 of ``id.timestamp.body``
under one of the given secrets, compared in constant time. Pass several secrets while you rotate
yours; the server itself signs with both of its secrets for a day after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opendance.domain.webhook_signing import SECRET_PREFIX, digest

__all__ = ["DEFAULT_TOLERANCE_SECONDS", "WebhookVerificationError", "verify"]

DEFAULT_TOLERANCE_SECONDS = 300  # five minutes, as in the Standard Webhooks reference libraries


class WebhookVerificationError(ValueError):
    """The request is not a genuine, fresh webhook from the holder of the secret."""


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes | Sequence[str | bytes],
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
) -> Any:
    """Check a webhook and return its JSON body; raise :class:`WebhookVerificationError`.

    ``body`` must be the raw request body, byte for byte: parsing and re-serialising JSON changes
    it and breaks the signature. ``headers`` may use any letter case. ``secret`` is a ``whsec_``
    secret (the prefix may be left off), raw key bytes, or a list of them.
    """
    raw = body.encode() if isinstance(body, str) else body
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp_text and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    timestamp = _fresh_timestamp(timestamp_text, tolerance, now())
    offered = _v1_signatures(signatures)
    for key in _keys(secret):
        expected = digest(key, message_id, timestamp, raw)
        # Every offered signature is compared, so the time taken does not say which one matched.
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            try:
                return json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the signed body is not JSON") from None
    raise WebhookVerificationError("no signature matches the secret")


def _fresh_timestamp(text: str, tolerance: float, now: float) -> int:
    if not text.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds")
    timestamp = int(text)
    if timestamp < now - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old (a replay?)")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    return timestamp


def _v1_signatures(header: str) -> list[bytes]:
    """The decodable ``v1`` signatures; other versions are skipped, as the spec asks."""
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


def _keys(secret: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    if not secrets:
        raise ValueError("no webhook secret given")
    return [_key(s) for s in secrets]


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            # Some secrets are handed out without base64 padding; extra padding is ignored.
            key = base64.b64decode(encoded + "==")
        except binascii.Error:
            raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key
